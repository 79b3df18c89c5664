# R_X86_64_GOTPC32 (rip-relative _GLOBAL_OFFSET_TABLE_) and R_X86_64_GOTOFF64 (64-bit
# offsets from the GOT base), as the medium code model uses them.
	.section .rodata
	.p2align 3
.Lro:	.quad 0x4444, 0x4545

	.text
	.globl asm_case
	.type asm_case, @function
asm_case:
	leaq _GLOBAL_OFFSET_TABLE_(%rip), %rcx		# GOTPC32
	cmpq $0, %rdi
	je 0f
	cmpq $1, %rdi
	je 1f
	cmpq $2, %rdi
	je 2f
	cmpq $3, %rdi
	je 3f
	movq $-1, %rax
	ret
0:	movabsq $asm_hidden_data@GOTOFF, %rax		# hidden data in another object
	movq (%rcx,%rax), %rax
	ret
1:	movabsq $.Lro@GOTOFF+8, %rax			# section symbol + addend
	movq (%rcx,%rax), %rax
	ret
2:	movabsq $asm_hidden_fn@GOTOFF, %rax		# hidden function
	addq %rcx, %rax
	jmp *%rax
3:	movabsq $asm_hidden_ro@GOTOFF, %rax		# hidden rodata
	movq (%rcx,%rax), %rax
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
