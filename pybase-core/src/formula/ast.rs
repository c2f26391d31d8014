//! The syntax tree of a formula, with byte spans.

/// A byte range `start..end` in the formula source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte of the node.
    pub start: usize,
    /// One past the last byte of the node.
    pub end: usize,
}

/// A prefix sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Neg,
    /// `+x`.
    Plus,
}

/// An infix operator (A.2), loosest level last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `&` (text concatenation).
    Concat,
    /// `=`.
    Eq,
    /// `!=` (also written `<>`).
    Ne,
    /// `<`.
    Lt,
    /// `>`.
    Gt,
    /// `<=`.
    Le,
    /// `>=`.
    Ge,
}

impl BinaryOp {
    /// Binding power: higher binds tighter (A.2). All levels are
    /// left-associative.
    pub fn precedence(self) -> u8 {
        match self {
            Self::Mul | Self::Div => 4,
            Self::Add | Self::Sub => 3,
            Self::Concat => 2,
            _ => 1,
        }
    }

    /// The operator's canonical spelling.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Mul => "*",
            Self::Div => "/",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Concat => "&",
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Gt => ">",
            Self::Le => "<=",
            Self::Ge => ">=",
        }
    }
}

/// One node of the tree: what it is and where it came from.
///
/// Equality compares the shape only, never the spans, so that a printed and
/// re-parsed tree equals the original.
#[derive(Debug, Clone)]
pub struct Expr {
    /// The node itself.
    pub kind: ExprKind,
    /// Where the node is in the source.
    pub span: Span,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// The kinds of node.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A finite, non-negative number literal (signs are [`ExprKind::Unary`]).
    Number(f64),
    /// A text literal, escapes resolved.
    Text(String),
    /// `TRUE`, `FALSE`, `TRUE()` or `FALSE()`.
    Bool(bool),
    /// A field reference, `{Name}` or a bare identifier; the name (or field
    /// id) is resolved by the caller.
    Field(String),
    /// A function call; the name is upper-cased.
    Call {
        /// Upper-case function name.
        name: String,
        /// The arguments in order.
        args: Vec<Expr>,
    },
    /// A prefix sign.
    Unary {
        /// Which sign.
        op: UnaryOp,
        /// The signed operand.
        operand: Box<Expr>,
    },
    /// An infix operation.
    Binary {
        /// Which operator.
        op: BinaryOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// A node of `kind` at `span`.
    pub fn new(kind: ExprKind, span: Span) -> Self {
        Self { kind, span }
    }
}
