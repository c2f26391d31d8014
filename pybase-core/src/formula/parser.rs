//! The Pratt parser (A.2, C.1): tokens to an [`Expr`] tree, within the
//! limits of C.9.

use super::ast::{BinaryOp, Expr, ExprKind, Span, UnaryOp};
use super::error::FormulaError;
use super::lexer::{Tok, Token, tokenize};
use super::limits::{MAX_ARGUMENTS, MAX_DEPTH, MAX_HEIGHT, MAX_SOURCE_BYTES};

/// Parses a whole formula.
///
/// # Errors
/// A [`FormulaError`] with the byte position and what was expected, for bad
/// syntax or a formula past the limits (length, nesting, height, arguments).
pub fn parse(src: &str) -> Result<Expr, FormulaError> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(FormulaError::new(
            MAX_SOURCE_BYTES,
            format!("the formula is longer than {MAX_SOURCE_BYTES} bytes"),
        ));
    }
    let tokens = tokenize(src)?;
    let mut parser = Parser { tokens, pos: 0 };
    let (expr, _) = parser.expr(0, 0)?;
    let next = parser.peek();
    if next.tok != Tok::Eof {
        return Err(FormulaError::new(
            next.start,
            format!(
                "unexpected {}: expected an operator or the end of the formula",
                next.tok.describe()
            ),
        ));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn binary_op(tok: &Tok) -> Option<BinaryOp> {
    Some(match tok {
        Tok::Star => BinaryOp::Mul,
        Tok::Slash => BinaryOp::Div,
        Tok::Plus => BinaryOp::Add,
        Tok::Minus => BinaryOp::Sub,
        Tok::Amp => BinaryOp::Concat,
        Tok::Eq => BinaryOp::Eq,
        Tok::Ne => BinaryOp::Ne,
        Tok::Lt => BinaryOp::Lt,
        Tok::Gt => BinaryOp::Gt,
        Tok::Le => BinaryOp::Le,
        Tok::Ge => BinaryOp::Ge,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with Eof and `pos` never passes it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::Eof {
            self.pos += 1;
        }
        token
    }

    fn check_height(height: usize, at: usize) -> Result<(), FormulaError> {
        if height > MAX_HEIGHT {
            return Err(FormulaError::new(
                at,
                format!(
                    "the formula is too deeply nested: more than {MAX_HEIGHT} levels of operations"
                ),
            ));
        }
        Ok(())
    }

    /// Parses operators binding tighter than `min_prec`; returns the tree and
    /// its height.
    fn expr(&mut self, min_prec: u8, depth: usize) -> Result<(Expr, usize), FormulaError> {
        let (mut lhs, mut height) = self.prefix(depth)?;
        while let Some(op) = binary_op(&self.peek().tok) {
            let prec = op.precedence();
            if prec <= min_prec {
                break;
            }
            let op_token = self.bump();
            let (rhs, rhs_height) = self.expr(prec, depth)?;
            height = height.max(rhs_height) + 1;
            Self::check_height(height, op_token.start)?;
            let span = Span {
                start: lhs.span.start,
                end: rhs.span.end,
            };
            lhs = Expr::new(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span,
            );
        }
        Ok((lhs, height))
    }

    fn enter(depth: usize, at: usize) -> Result<usize, FormulaError> {
        if depth >= MAX_DEPTH {
            return Err(FormulaError::new(
                at,
                format!(
                    "the formula nests more than {MAX_DEPTH} levels of parentheses, calls or signs"
                ),
            ));
        }
        Ok(depth + 1)
    }

    fn prefix(&mut self, depth: usize) -> Result<(Expr, usize), FormulaError> {
        let token = self.bump();
        let span = Span {
            start: token.start,
            end: token.end,
        };
        match token.tok {
            Tok::Number(n) => Ok((Expr::new(ExprKind::Number(n), span), 1)),
            Tok::Text(t) => Ok((Expr::new(ExprKind::Text(t), span), 1)),
            Tok::Field(f) => Ok((Expr::new(ExprKind::Field(f), span), 1)),
            Tok::Minus | Tok::Plus => {
                let inner = Self::enter(depth, token.start)?;
                let op = if token.tok == Tok::Minus {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Plus
                };
                // A sign binds tighter than every infix operator.
                let (operand, height) = self.prefix(inner)?;
                Self::check_height(height + 1, token.start)?;
                let span = Span {
                    start: token.start,
                    end: operand.span.end,
                };
                Ok((
                    Expr::new(
                        ExprKind::Unary {
                            op,
                            operand: Box::new(operand),
                        },
                        span,
                    ),
                    height + 1,
                ))
            }
            Tok::LParen => {
                let inner = Self::enter(depth, token.start)?;
                let (mut expr, height) = self.expr(0, inner)?;
                let close = self.bump();
                if close.tok != Tok::RParen {
                    return Err(FormulaError::new(
                        close.start,
                        format!(
                            "unexpected {}: expected ')' to close the '(' at position {}",
                            close.tok.describe(),
                            token.start
                        ),
                    ));
                }
                expr.span = Span {
                    start: token.start,
                    end: close.end,
                };
                Ok((expr, height))
            }
            Tok::Ident(name) => {
                if self.peek().tok == Tok::LParen {
                    self.call(&name, token.start, depth)
                } else {
                    let upper = name.to_ascii_uppercase();
                    let kind = match upper.as_str() {
                        "TRUE" => ExprKind::Bool(true),
                        "FALSE" => ExprKind::Bool(false),
                        _ => ExprKind::Field(name),
                    };
                    Ok((Expr::new(kind, span), 1))
                }
            }
            other => Err(FormulaError::new(
                token.start,
                format!(
                    "unexpected {}: expected a number, a text, a field, a function call or '('",
                    other.describe()
                ),
            )),
        }
    }

    fn call(
        &mut self,
        name: &str,
        start: usize,
        depth: usize,
    ) -> Result<(Expr, usize), FormulaError> {
        let inner = Self::enter(depth, start)?;
        self.bump(); // '('
        let mut args = Vec::new();
        let mut height = 0;
        if self.peek().tok != Tok::RParen {
            loop {
                if args.len() == MAX_ARGUMENTS {
                    return Err(FormulaError::new(
                        self.peek().start,
                        format!("{name} is given more than {MAX_ARGUMENTS} arguments"),
                    ));
                }
                let (arg, arg_height) = self.expr(0, inner)?;
                height = height.max(arg_height);
                args.push(arg);
                let next = self.bump();
                match next.tok {
                    Tok::Comma => continue,
                    Tok::RParen => {
                        return self.finish_call(name, args, start, next.end, height);
                    }
                    other => {
                        return Err(FormulaError::new(
                            next.start,
                            format!(
                                "unexpected {}: expected ',' or ')' in the arguments of {name}",
                                other.describe()
                            ),
                        ));
                    }
                }
            }
        }
        let close = self.bump();
        self.finish_call(name, args, start, close.end, height)
    }

    fn finish_call(
        &mut self,
        name: &str,
        args: Vec<Expr>,
        start: usize,
        end: usize,
        height: usize,
    ) -> Result<(Expr, usize), FormulaError> {
        let span = Span { start, end };
        let upper = name.to_ascii_uppercase();
        let kind = match (upper.as_str(), args.is_empty()) {
            ("TRUE", true) => ExprKind::Bool(true),
            ("FALSE", true) => ExprKind::Bool(false),
            _ => ExprKind::Call { name: upper, args },
        };
        Self::check_height(height + 1, start)?;
        Ok((Expr::new(kind, span), height + 1))
    }
}
