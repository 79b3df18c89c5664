# R_X86_64_PC64: 64-bit pc-relative words in data.
	.section .rodata
	.p2align 3
.Lro:	.quad 0x4444, 0x4545

	.data
	.p2align 3
pc64_hidden:
	.quad asm_hidden_ro - .
pc64_local:
	.quad .Lro + 8 - .
pc64_fn:
	.quad asm_hidden_fn - .
pc64_negative:
	.quad asm_hidden_data - 16 - .	# negative addend; the code adds 16 + 8 back

	.text
	.globl asm_case
	.type asm_case, @function
asm_case:
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
0:	leaq pc64_hidden(%rip), %rax
	addq (%rax), %rax
	movq (%rax), %rax
	ret
1:	leaq pc64_local(%rip), %rax
	addq (%rax), %rax
	movq (%rax), %rax
	ret
2:	leaq pc64_fn(%rip), %rax
	addq (%rax), %rax
	jmp *%rax
3:	leaq pc64_negative(%rip), %rax
	addq (%rax), %rax
	movq 24(%rax), %rax
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
