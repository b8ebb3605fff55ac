namespace bpfmap::shm {}
