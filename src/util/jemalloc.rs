//! Requests to jemalloc, the global allocator (declared in `lib.rs`),
//! through its `mallctl` interface.

/// `MALLCTL_ARENAS_ALL`: the arena index that names every arena at once.
const ARENAS_ALL: u32 = 4096;

/// Returns the pages of every arena that hold no live allocation to the
/// system now, instead of after the decay time. An error is jemalloc's
/// error number.
pub fn purge() -> Result<(), i32> {
    let name = format!("arena.{ARENAS_ALL}.purge\0");
    // SAFETY: `name` is a NUL-terminated control name; a purge neither
    // reads nor writes a value, so every pointer is null and both lengths
    // are zero, as jemalloc requires for such a control.
    let code = unsafe {
        tikv_jemalloc_sys::mallctl(
            name.as_ptr().cast(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
    if code == 0 { Ok(()) } else { Err(code) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_is_accepted() {
        let freed: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4096]).collect();
        drop(freed);
        assert_eq!(super::purge(), Ok(()));
    }
}
