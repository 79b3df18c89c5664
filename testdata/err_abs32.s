# R_X86_64_32 against a symbol: an absolute 32-bit address cannot be relocated at run time
# in a shared library. The relocation is at offset 0x11 of section .text.bad.
	.data
	.globl chainlink_abs32_target
chainlink_abs32_target:
	.long 1

	.section .text.bad,"ax",@progbits
	.globl chainlink_abs32
	.type chainlink_abs32, @function
chainlink_abs32:
	.fill 16, 1, 0x90
	movl $chainlink_abs32_target, %eax
	ret
	.section .note.GNU-stack,"",@progbits
