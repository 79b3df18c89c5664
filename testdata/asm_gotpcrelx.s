# R_X86_64_GOTPCRELX / R_X86_64_REX_GOTPCRELX (gas's default for these forms): the linker
# may relax the ones against non-preemptible symbols (mov -> lea, call * -> addr32 call).
	.section .rodata
	.p2align 3
local_ro_sym:
	.quad 0x4444
	.type local_ro_sym, @object
	.size local_ro_sym, 8

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
	cmpq $6, %rdi
	je 6f
	cmpq $7, %rdi
	je 7f
	cmpq $8, %rdi
	je 8f
	cmpq $9, %rdi
	je 9f
	movq $-1, %rax
	ret
0:	movq asm_global_data@GOTPCREL(%rip), %rax	# REX_GOTPCRELX, global
	movq (%rax), %rax
	ret
1:	movq asm_hidden_data@GOTPCREL(%rip), %rax	# REX_GOTPCRELX, hidden
	movq (%rax), %rax
	ret
2:	subq $8, %rsp
	call *asm_global_fn@GOTPCREL(%rip)		# GOTPCRELX call, global
	addq $8, %rsp
	ret
3:	subq $8, %rsp
	call *asm_hidden_fn@GOTPCREL(%rip)		# GOTPCRELX call, hidden
	addq $8, %rsp
	ret
4:	jmp *asm_hidden_fn@GOTPCREL(%rip)		# GOTPCRELX jmp, hidden
5:	jmp *asm_global_fn@GOTPCREL(%rip)		# GOTPCRELX jmp, global
6:	xorl %eax, %eax
	addq asm_hidden_data@GOTPCREL(%rip), %rax	# REX_GOTPCRELX, add form
	movq 8(%rax), %rax
	ret
7:	movq asm_hidden_data@GOTPCREL(%rip), %r11	# REX_GOTPCRELX into r11 (REX.R)
	movq 8(%r11), %rax
	ret
8:	movq local_ro_sym@GOTPCREL(%rip), %rax		# REX_GOTPCRELX, file-local symbol
	movq (%rax), %rax
	ret
9:	leaq asm_hidden_data(%rip), %rcx		# cmp form: GOT entry == address
	xorl %eax, %eax
	cmpq asm_hidden_data@GOTPCREL(%rip), %rcx
	sete %al
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
