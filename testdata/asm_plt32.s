# R_X86_64_PLT32: direct calls and jumps to global, hidden and libc functions.
	.section .rodata
.Lstr:	.string "plt32 to libc"

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
0:	jmp asm_global_fn@PLT		# preemptible: through a PLT entry
1:	jmp asm_hidden_fn@PLT		# hidden: may bind directly
2:	subq $8, %rsp
	leaq .Lstr(%rip), %rdi
	call strlen@PLT			# into libc
	addq $8, %rsp
	ret
3:	subq $8, %rsp
	call asm_global_fn		# no @PLT: gas still emits PLT32 for calls
	addq $8, %rsp
	addq $1, %rax
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
