# R_X86_64_GOTPC64 (64-bit pc-relative GOT base), R_X86_64_PLTOFF64 (PLT entry or function
# relative to the GOT base) and R_X86_64_GOT64 (GOT entry offset), as the large code model
# uses them.
	.section .rodata
.Lstr:	.string "gotpc64"

	.text
	.globl asm_case
	.type asm_case, @function
asm_case:
	pushq %rbx
	pushq %r15
	subq $8, %rsp
.Lbase:	leaq .Lbase(%rip), %r15
	movabsq $_GLOBAL_OFFSET_TABLE_-.Lbase, %r11	# GOTPC64
	addq %r11, %r15					# r15 = GOT base
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
	jmp 9f
0:	movabsq $asm_global_fn@PLTOFF, %rax		# PLTOFF64, global
	addq %r15, %rax
	call *%rax
	jmp 9f
1:	movabsq $asm_hidden_fn@PLTOFF, %rax		# PLTOFF64, hidden
	addq %r15, %rax
	call *%rax
	jmp 9f
2:	leaq .Lstr(%rip), %rdi
	movabsq $strlen@PLTOFF, %rax			# PLTOFF64, libc
	addq %r15, %rax
	call *%rax
	jmp 9f
3:	movabsq $asm_global_data@GOT, %rax		# GOT64
	movq (%r15,%rax), %rax
	movq (%rax), %rax
	jmp 9f
4:	movabsq $asm_hidden_data@GOTOFF, %rax		# GOTOFF64 from the GOTPC64 base
	movq 8(%r15,%rax), %rax
	jmp 9f
5:	leaq _GLOBAL_OFFSET_TABLE_(%rip), %rcx		# GOTPC32 agrees with GOTPC64
	xorl %eax, %eax
	cmpq %rcx, %r15
	sete %al
9:	addq $8, %rsp
	popq %r15
	popq %rbx
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
