//! Keeps freed batch memory in the process (the collector's binary and the decode bench
//! both start with it). Every batch hands its column buffers
//! (megabytes) to the store thread, which frees them after writing; glibc's defaults then
//! return them to the kernel, and the next batch faults every page back in zeroed:
//! page faults and `clear_page` were a fifth of the receive thread's time at 3.8 M
//! records/s (decision 0004). Memory stays bounded by the batch and queue limits.

/// Large allocations from the heap (not one `mmap` each) and no trimming below 1 GiB.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}
