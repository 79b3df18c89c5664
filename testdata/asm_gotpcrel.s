# R_X86_64_GOTPCREL: assembled with -Wa,-mrelax-relocations=no, so these stay plain
# GOTPCREL (not GOTPCRELX) and the linker must really provide GOT entries.
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
	movq $-1, %rax
	ret
0:	movq asm_global_data@GOTPCREL(%rip), %rax
	movq (%rax), %rax
	ret
1:	movq asm_hidden_data@GOTPCREL(%rip), %rax
	movq 8(%rax), %rax
	ret
2:	movq asm_global_fn@GOTPCREL(%rip), %rax
	jmp *%rax
3:	movq local_ro_sym@GOTPCREL(%rip), %rax	# GOT entry for a file-local symbol
	movq (%rax), %rax
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
