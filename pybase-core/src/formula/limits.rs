//! Parser limits (FORMULA.md C.9): formulas come from URLs, so every input
//! is bounded before it can cost memory or stack.

/// Longest accepted formula source, in bytes (256 KiB).
pub const MAX_SOURCE_BYTES: usize = 256 * 1024;

/// Deepest accepted nesting of parentheses, calls and signs.
pub const MAX_DEPTH: usize = 64;

/// Tallest accepted expression tree, counting operator chains such as
/// `{a} & {b} & {c}` (PyBase: bounds the evaluator's recursion).
pub const MAX_HEIGHT: usize = 256;

/// Most arguments accepted in one function call.
pub const MAX_ARGUMENTS: usize = 10_000;

/// Longest text any operator or function may build, in bytes (400 KB, about
/// 100,000 characters): longer is `#ERROR!`, so that no formula (nor a
/// chain of them) can grow a cell without bound.
pub const MAX_TEXT_BYTES: usize = 400_000;
