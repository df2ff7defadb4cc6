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

/// What jemalloc reports of its memory, in bytes: what the application
/// has allocated, the pages those allocations occupy (`active`, with the
/// size classes' slack), and the pages jemalloc holds resident (free ones
/// not yet returned included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocatorStats {
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
}

/// jemalloc's current figures (it refreshes them on request). `None` if
/// jemalloc refused, which a build without statistics would.
pub fn stats() -> Option<AllocatorStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    Some(AllocatorStats {
        allocated: stats::allocated::read().ok()? as u64,
        active: stats::active::read().ok()? as u64,
        resident: stats::resident::read().ok()? as u64,
    })
}

/// jemalloc's own statistics report, as `MEMORY MALLOC-STATS` shows it.
pub fn report() -> Option<String> {
    let mut out = Vec::new();
    tikv_jemalloc_ctl::stats_print::stats_print(&mut out, Default::default()).ok()?;
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn purge_is_accepted() {
        let freed: Vec<Vec<u8>> = (0..1000).map(|i| vec![i as u8; 4096]).collect();
        drop(freed);
        assert_eq!(super::purge(), Ok(()));
    }

    #[test]
    fn stats_follow_allocations() {
        let before = super::stats().expect("jemalloc statistics");
        let held: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; 64 * 1024]).collect();
        let during = super::stats().expect("jemalloc statistics");
        // Other tests allocate concurrently: only a lower bound holds.
        assert!(during.allocated >= 16 << 20, "{during:?}");
        assert!(during.active >= during.allocated && during.resident >= during.active, "{during:?}");
        assert!(before.allocated > 0);
        drop(held);
        assert!(super::report().expect("report").contains("jemalloc"));
    }
}
