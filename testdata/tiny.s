# The smallest object: assembled with `gcc -m32 -c` for the wrong-architecture test.
	.text
	.globl chainlink_tiny
chainlink_tiny:
	ret
	.section .note.GNU-stack,"",@progbits
