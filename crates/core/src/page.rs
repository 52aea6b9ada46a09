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

/// Where a keyset continuation of a list resumes: after the row `(created_at, id)` of its
/// order (newest first, id as tie-breaker), which was at `position - 1` when the cursor was
/// made. Unlike an offset, it neither repeats nor skips rows when rows are added or removed
/// before it, and costs the same at any depth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: jiff::Timestamp,
    pub id: i64,
    /// Rows before the page the cursor starts, when it was made (the page number shown).
    pub position: u64,
}

impl Cursor {
    /// The cursor after the last of `shown` rows of the page `page`, if the list has rows
    /// after them: the page is full and rows are counted beyond it.
    pub fn after_page(
        page: PageRequest,
        shown: usize,
        total: u64,
        last: Option<(jiff::Timestamp, i64)>,
    ) -> Option<Cursor> {
        let position = page.offset + shown as u64;
        let (created_at, id) = last?;
        (shown as u64 == u64::from(page.limit) && position < total).then_some(Cursor { created_at, id, position })
    }
}
