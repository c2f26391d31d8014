//! The printer: an [`Expr`] back to canonical formula text.

use super::ast::{Expr, ExprKind, UnaryOp};

/// Renders `expr` as canonical text: fields in braces, texts in double
/// quotes, function names upper-case, single spaces around operators and
/// only the parentheses the precedence needs.
pub fn print(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(expr, &mut out);
    out
}

fn write_expr(expr: &Expr, out: &mut String) {
    match &expr.kind {
        ExprKind::Number(n) => out.push_str(&format!("{n}")),
        ExprKind::Text(t) => {
            out.push('"');
            for c in t.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\t' => out.push_str("\\t"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        ExprKind::Bool(b) => out.push_str(if *b { "TRUE()" } else { "FALSE()" }),
        ExprKind::Field(name) => {
            out.push('{');
            for c in name.chars() {
                if c == '}' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('}');
        }
        ExprKind::Call { name, args } => {
            out.push_str(name);
            out.push('(');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(arg, out);
            }
            out.push(')');
        }
        ExprKind::Unary { op, operand } => {
            out.push(match op {
                UnaryOp::Neg => '-',
                UnaryOp::Plus => '+',
            });
            let wrap = matches!(operand.kind, ExprKind::Binary { .. });
            write_wrapped(operand, wrap, out);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let prec = op.precedence();
            write_wrapped(lhs, binary_prec(lhs).is_some_and(|p| p < prec), out);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            write_wrapped(rhs, binary_prec(rhs).is_some_and(|p| p <= prec), out);
        }
    }
}

fn binary_prec(expr: &Expr) -> Option<u8> {
    match &expr.kind {
        ExprKind::Binary { op, .. } => Some(op.precedence()),
        _ => None,
    }
}

fn write_wrapped(expr: &Expr, wrap: bool, out: &mut String) {
    if wrap {
        out.push('(');
    }
    write_expr(expr, out);
    if wrap {
        out.push(')');
    }
}
