# R_X86_64_PC32: rip-relative operands and 32-bit pc-relative words in data.
	.section .rodata
	.p2align 3
.Lro:	.quad 0x4444, 0x4545

	.data
	.p2align 2
pc32_word_hidden:
	.long asm_hidden_ro - .		# pc-relative word against a hidden symbol
pc32_word_local:
	.long .Lro + 8 - .		# pc-relative word against a section symbol

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
	cmpq $4, %rdi
	je 4f
	cmpq $5, %rdi
	je 5f
	movq $-1, %rax
	ret
0:	movq asm_hidden_data(%rip), %rax	# hidden data in another object
	ret
1:	movq asm_hidden_data+8(%rip), %rax	# with an addend
	ret
2:	movq .Lro+8(%rip), %rax			# section symbol + addend
	ret
3:	leaq pc32_word_hidden(%rip), %rax
	movslq (%rax), %rcx
	addq %rcx, %rax
	movq (%rax), %rax
	ret
4:	leaq pc32_word_local(%rip), %rax
	movslq (%rax), %rcx
	addq %rcx, %rax
	movq (%rax), %rax
	ret
5:	leaq asm_hidden_fn(%rip), %rax		# function address
	jmp *%rax
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
