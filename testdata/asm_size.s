# R_X86_64_SIZE32 / R_X86_64_SIZE64: symbol sizes. In code only against non-preemptible
# symbols (against a preemptible one ld would need a dynamic relocation in .text: TEXTREL);
# in data also against a preemptible one.
	.section .rodata
local_sized:
	.zero 48
	.type local_sized, @object
	.size local_sized, 48

	.data
	.p2align 3
size_words:
	.quad asm_sized_global@SIZE		# SIZE64 in data, global (preemptible)
	.long asm_sized_global@SIZE		# SIZE32 in data, global (preemptible)

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
	movq $-1, %rax
	ret
0:	movl size_words+8(%rip), %eax
	ret
1:	movl $asm_sized_hidden@SIZE, %eax		# SIZE32 in code, hidden
	ret
2:	movq size_words(%rip), %rax
	ret
3:	movabsq $asm_sized_hidden@SIZE+1000, %rax	# SIZE64 in code, hidden, addend
	ret
4:	movl $local_sized@SIZE, %eax			# SIZE32, file-local
	ret
	.size asm_case, .-asm_case
	.section .note.GNU-stack,"",@progbits
