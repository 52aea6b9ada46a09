//! Paging: every list is ordered newest first with the id as tie-breaker, so pages never
//! repeat or skip rows.

pub const LIMIT_DEFAULT: u32 = 50;
pub const LIMIT_MAX: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub offset: u64,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { limit: LIMIT_DEFAULT, offset: 0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub total: u64,
    pub items: Vec<T>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { total: self.total, items: self.items.into_iter().map(f).collect() }
    }
}
