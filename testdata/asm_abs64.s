# R_X86_64_64: absolute 64-bit addresses in writable data (dynamic R_X86_64_64 against the
# preemptible symbols, R_X86_64_RELATIVE against the others).
	.section .rodata
	.p2align 3
.Lro:	.quad 0x4444, 0x4545

	.data
	.p2align 3
abs64_table:
	.quad asm_global_data		# 0: global data
	.quad asm_hidden_data + 8	# 1: hidden data, addend 8
	.quad .Lro + 8			# 2: section symbol + 8
	.quad asm_global_fn		# 3: global function
	.quad asm_hidden_fn		# 4: hidden function
	.quad abs64_table		# 5: its own address

	.text
	.globl asm_case
	.type asm_case, @function
asm_case:
	leaq abs64_table(%rip), %rdx
	cmpq $5, %rdi
	ja 9f
	movq (%rdx,%rdi,8), %rax
	cmpq $3, %rdi
	jae 1f
	movq (%rax), %rax		# cases 0-2: load through the pointer
	ret
1:	cmpq $5, %rdi
	je 2f
	jmp *%rax			# cases 3-4: tail call through the pointer
2:	cmpq %rdx, %rax			# case 5: the pointer equals the table's address
	sete %al
	movzbl %al, %eax
	ret
9:	movq $-1, %rax
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
