"""Class: 4
Name: c4_memory_2gb
Tries: allocate and touch 2 GB (bounded, safe on today's 24 GB machine) and keep it for the rest of the
    notebook, to show that no memory limit applies to a grading kernel (c4_memory_30gb is the real attack).
Grader must: a memory limit per submission (RLIMIT_AS or a memory cgroup, e.g. 2 GB) so the allocation fails
    with MemoryError or the kernel is killed and reported as "memory limit exceeded".
"""
try:
    _hog = bytearray(2 * 1024**3)
    for _i in range(0, len(_hog), 4096):
        _hog[_i] = 1
    print("ATTACK: allocated and touched 2 GB")
except MemoryError:
    print("ATTACK: 2 GB allocation refused (MemoryError)")
