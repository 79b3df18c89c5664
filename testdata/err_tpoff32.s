# R_X86_64_TPOFF32: local-exec TLS, valid only in an executable. At offset 0x14 of .text.tls.
	.section .tbss,"awT",@nobits
	.globl chainlink_le_tls
	.type chainlink_le_tls, @object
	.size chainlink_le_tls, 4
chainlink_le_tls:
	.zero 4

	.section .text.tls,"ax",@progbits
	.globl chainlink_tpoff32
	.type chainlink_tpoff32, @function
chainlink_tpoff32:
	.fill 16, 1, 0x90
	movl %fs:chainlink_le_tls@TPOFF, %eax
	ret
	.section .note.GNU-stack,"",@progbits
