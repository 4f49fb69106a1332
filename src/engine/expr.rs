//! The subset of expr-lang (<https://expr-lang.org>) that Argo Rollouts'
//! `successCondition` and `failureCondition` are written in, evaluated the way
//! Argo's `evaluate.EvalCondition` runs them: `result` is a number for a scalar
//! query and an array of every sample value (in result order) for a vector.
//!
//! Supported: numbers, `true`, `false`, `result`, indexing (`result[0]`,
//! negative from the end), `len`, `isNaN`, `isInf`, `asFloat`, `asInt`, `abs`,
//! `all`/`any`/`none` with a `{ # ... }` predicate, comparisons, `==`/`!=`,
//! `&&`/`and`, `||`/`or`, `!`/`not`, `+ - * / %`, parentheses. Anything else is
//! refused by [`Expr::parse`], naming it. As in Go, a comparison with NaN is
//! false (`!=` true). A type mismatch (`result >= 0.95` when `result` is an
//! array) or an index out of range is a runtime error: Argo records the
//! measurement as an *error*.

use std::fmt;

/// A parsed condition; equal when their source texts are.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: Node,
}

impl PartialEq for Expr {
    fn eq(&self, other: &Expr) -> bool {
        self.source == other.source
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// What a metric provider returned, as Argo hands it to the condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Array(Vec<f64>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(f64),
    Bool(bool),
    Result,
    Elem,
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin(Op, Box<Node>, Box<Node>),
    Index(Box<Node>, Box<Node>),
    Call(Func, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Len,
    IsNaN,
    IsInf,
    AsFloat,
    AsInt,
    Abs,
    All,
    Any,
    None,
}

impl Func {
    fn from_name(s: &str) -> Option<(Func, usize)> {
        Some(match s {
            "len" => (Func::Len, 1),
            "isNaN" => (Func::IsNaN, 1),
            "isInf" => (Func::IsInf, 1),
            "asFloat" => (Func::AsFloat, 1),
            "asInt" => (Func::AsInt, 1),
            "abs" => (Func::Abs, 1),
            "all" => (Func::All, 2),
            "any" => (Func::Any, 2),
            "none" => (Func::None, 2),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Sym(&'static str),
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, String> {
    const SYMS: [&str; 22] = [
        "&&", "||", "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "!", "(", ")", "[", "]", "{", "}", ",",
        "#",
    ];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.' || b[i] == b'_') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                i += 1;
                if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = s[start..i].chars().filter(|&c| c != '_').collect();
            let v =
                text.parse::<f64>().map_err(|_| format!("bad number {:?} at column {}", &s[start..i], start + 1))?;
            out.push((start, Tok::Num(v)));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$') {
                i += 1;
            }
            out.push((start, Tok::Ident(s[start..i].to_string())));
        } else if let Some(sym) = SYMS.iter().find(|sym| s[i..].starts_with(**sym)) {
            out.push((i, Tok::Sym(sym)));
            i += sym.len();
        } else {
            let ch = s[i..].chars().next().unwrap_or('?');
            return Err(format!("{ch:?} at column {} is not supported", i + 1));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    src: &'a str,
    in_predicate: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |t| t.0) + 1
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Ident(x)) if x == w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, s: &str) -> Result<(), String> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(format!("expected {s:?} at column {}", self.col()))
        }
    }

    fn or(&mut self) -> Result<Node, String> {
        let mut l = self.and()?;
        while self.eat_sym("||") || self.eat_word("or") {
            l = Node::Bin(Op::Or, Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Node, String> {
        let mut l = self.cmp()?;
        while self.eat_sym("&&") || self.eat_word("and") {
            l = Node::Bin(Op::And, Box::new(l), Box::new(self.cmp()?));
        }
        Ok(l)
    }
    fn cmp(&mut self) -> Result<Node, String> {
        let mut l = self.add()?;
        loop {
            let op = [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
                .into_iter()
                .find(|(s, _)| self.eat_sym(s));
            let Some((_, op)) = op else { return Ok(l) };
            l = Node::Bin(op, Box::new(l), Box::new(self.add()?));
        }
    }
    fn add(&mut self) -> Result<Node, String> {
        let mut l = self.mul()?;
        loop {
            let op = if self.eat_sym("+") {
                Op::Add
            } else if self.eat_sym("-") {
                Op::Sub
            } else {
                return Ok(l);
            };
            l = Node::Bin(op, Box::new(l), Box::new(self.mul()?));
        }
    }
    fn mul(&mut self) -> Result<Node, String> {
        let mut l = self.unary()?;
        loop {
            let op = if self.eat_sym("*") {
                Op::Mul
            } else if self.eat_sym("/") {
                Op::Div
            } else if self.eat_sym("%") {
                Op::Mod
            } else {
                return Ok(l);
            };
            l = Node::Bin(op, Box::new(l), Box::new(self.unary()?));
        }
    }
    fn unary(&mut self) -> Result<Node, String> {
        if self.eat_sym("!") || self.eat_word("not") {
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        if self.eat_sym("-") {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        if self.eat_sym("+") {
            return self.unary();
        }
        self.postfix()
    }
    fn postfix(&mut self) -> Result<Node, String> {
        let mut n = self.primary()?;
        while self.eat_sym("[") {
            let i = self.or()?;
            self.expect("]")?;
            n = Node::Index(Box::new(n), Box::new(i));
        }
        Ok(n)
    }
    fn primary(&mut self) -> Result<Node, String> {
        let col = self.col();
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(format!("unexpected end of the expression at column {col}"));
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(Node::Num(v)),
            Tok::Sym("(") => {
                let n = self.or()?;
                self.expect(")")?;
                Ok(n)
            }
            Tok::Sym("#") if self.in_predicate => Ok(Node::Elem),
            Tok::Ident(w) => match w.as_str() {
                "true" => Ok(Node::Bool(true)),
                "false" => Ok(Node::Bool(false)),
                "result" => Ok(Node::Result),
                name => {
                    let Some((f, arity)) = Func::from_name(name) else {
                        return Err(if self.eat_sym("(") {
                            format!("the function {name}() at column {col} is not supported (supported: len, isNaN, isInf, asFloat, asInt, abs, all, any, none)")
                        } else {
                            format!("the name {name:?} at column {col} is not supported (only `result` is defined)")
                        });
                    };
                    self.expect("(")?;
                    let mut args = vec![self.or()?];
                    while self.eat_sym(",") {
                        let predicate = matches!(f, Func::All | Func::Any | Func::None) && args.len() == 1;
                        args.push(if predicate { self.predicate()? } else { self.or()? });
                    }
                    self.expect(")")?;
                    if args.len() != arity {
                        return Err(format!(
                            "{name}() at column {col} takes {arity} argument(s), found {}",
                            args.len()
                        ));
                    }
                    Ok(Node::Call(f, args))
                }
            },
            Tok::Sym(s) => Err(format!("{s:?} at column {col} is not supported here")),
        }
    }
    /// `{ # > 0.9 }` or a bare `# > 0.9`.
    fn predicate(&mut self) -> Result<Node, String> {
        let braces = self.eat_sym("{");
        let outer = std::mem::replace(&mut self.in_predicate, true);
        let n = self.or()?;
        self.in_predicate = outer;
        if braces {
            self.expect("}")?;
        }
        Ok(n)
    }
}

impl Expr {
    /// Parses a condition; the error names what is not supported and where.
    pub fn parse(source: &str) -> Result<Expr, String> {
        let toks = lex(source)?;
        let mut p = Parser { toks, pos: 0, src: source, in_predicate: false };
        let root = p.or()?;
        if p.pos < p.toks.len() {
            return Err(format!("unexpected {:?} at column {}", p.peek().cloned().unwrap_or(Tok::Sym("?")), p.col()));
        }
        Ok(Expr { source: source.to_string(), root })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when the condition compares the whole `result` with a number
    /// (`result >= 0.95`): an error on every vector answer.
    pub fn compares_bare_result(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::Bin(op, l, r) => {
                    let cmp = !matches!(op, Op::And | Op::Or);
                    (cmp && (**l == Node::Result || **r == Node::Result)) || walk(l) || walk(r)
                }
                Node::Not(x) | Node::Neg(x) => walk(x),
                Node::Index(a, b) => walk(a) || walk(b),
                Node::Call(_, args) => args.iter().any(walk),
                _ => false,
            }
        }
        walk(&self.root)
    }

    /// The condition's value for `result`; `Err` is a runtime error.
    pub fn eval(&self, result: &Value) -> Result<bool, String> {
        match eval(&self.root, result, None)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("expected bool, but got {}", type_name(&other))),
        }
    }

    /// `result[0] > 0.9`-style conditions as (op, number), for charts and traces.
    pub fn simple_threshold(&self) -> Option<(&'static str, f64)> {
        let Node::Bin(op, l, r) = &self.root else { return None };
        let is_first = |n: &Node| matches!(n, Node::Index(a, i) if **a == Node::Result && **i == Node::Num(0.0));
        let sym = match op {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            _ => return None,
        };
        match (&**l, &**r) {
            (a, Node::Num(v)) if is_first(a) || *a == Node::Result => Some((sym, *v)),
            _ => None,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Num(_) => "float64",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]float64",
    }
}

fn num(v: Value, what: &str) -> Result<f64, String> {
    match v {
        Value::Num(x) => Ok(x),
        other => Err(format!("{what}: expected a number, found {}", type_name(&other))),
    }
}

fn boolean(v: Value, what: &str) -> Result<bool, String> {
    match v {
        Value::Bool(x) => Ok(x),
        other => Err(format!("{what}: expected bool, found {}", type_name(&other))),
    }
}

fn eval(n: &Node, result: &Value, elem: Option<f64>) -> Result<Value, String> {
    Ok(match n {
        Node::Num(v) => Value::Num(*v),
        Node::Bool(b) => Value::Bool(*b),
        Node::Result => result.clone(),
        Node::Elem => Value::Num(elem.ok_or("# outside a predicate")?),
        Node::Not(x) => Value::Bool(!boolean(eval(x, result, elem)?, "!")?),
        Node::Neg(x) => Value::Num(-num(eval(x, result, elem)?, "-")?),
        Node::Bin(Op::And, l, r) => {
            Value::Bool(boolean(eval(l, result, elem)?, "&&")? && boolean(eval(r, result, elem)?, "&&")?)
        }
        Node::Bin(Op::Or, l, r) => {
            Value::Bool(boolean(eval(l, result, elem)?, "||")? || boolean(eval(r, result, elem)?, "||")?)
        }
        Node::Bin(op, l, r) => {
            let (a, b) = (eval(l, result, elem)?, eval(r, result, elem)?);
            match (op, a, b) {
                (Op::Eq, Value::Bool(x), Value::Bool(y)) => Value::Bool(x == y),
                (Op::Ne, Value::Bool(x), Value::Bool(y)) => Value::Bool(x != y),
                (op, Value::Num(x), Value::Num(y)) => match op {
                    Op::Eq => Value::Bool(x == y),
                    Op::Ne => Value::Bool(x != y),
                    Op::Lt => Value::Bool(x < y),
                    Op::Le => Value::Bool(x <= y),
                    Op::Gt => Value::Bool(x > y),
                    Op::Ge => Value::Bool(x >= y),
                    Op::Add => Value::Num(x + y),
                    Op::Sub => Value::Num(x - y),
                    Op::Mul => Value::Num(x * y),
                    Op::Div => Value::Num(x / y),
                    Op::Mod => Value::Num(x % y),
                    Op::And | Op::Or => unreachable!("handled above"),
                },
                (op, a, b) => {
                    return Err(format!("invalid operation: {} {op:?} {}", type_name(&a), type_name(&b)));
                }
            }
        }
        Node::Index(a, i) => {
            let arr = match eval(a, result, elem)? {
                Value::Array(v) => v,
                other => return Err(format!("cannot index {}", type_name(&other))),
            };
            let i = num(eval(i, result, elem)?, "index")?;
            if i.fract() != 0.0 {
                return Err(format!("index {i} is not an integer"));
            }
            let len = arr.len() as f64;
            let at = if i < 0.0 { i + len } else { i };
            if at < 0.0 || at >= len {
                return Err(format!("index out of range: {i} (array of length {})", arr.len()));
            }
            Value::Num(arr[at as usize])
        }
        Node::Call(f, args) => {
            let arg = |k: usize| eval(&args[k], result, elem);
            match f {
                Func::Len => match arg(0)? {
                    Value::Array(v) => Value::Num(v.len() as f64),
                    other => return Err(format!("invalid argument for len (type {})", type_name(&other))),
                },
                Func::IsNaN => Value::Bool(num(arg(0)?, "isNaN")?.is_nan()),
                Func::IsInf => Value::Bool(num(arg(0)?, "isInf")?.is_infinite()),
                Func::AsFloat => Value::Num(num(arg(0)?, "asFloat")?),
                Func::AsInt => Value::Num(num(arg(0)?, "asInt")?.trunc()),
                Func::Abs => Value::Num(num(arg(0)?, "abs")?.abs()),
                Func::All | Func::Any | Func::None => {
                    let Value::Array(v) = arg(0)? else {
                        return Err(format!("{f:?}: expected an array"));
                    };
                    let mut hits = 0;
                    for x in &v {
                        if boolean(eval(&args[1], result, Some(*x))?, "predicate")? {
                            hits += 1;
                        }
                    }
                    Value::Bool(match f {
                        Func::All => hits == v.len(),
                        Func::Any => hits > 0,
                        _ => hits == 0,
                    })
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(e: &str, r: Value) -> Result<bool, String> {
        Expr::parse(e).unwrap().eval(&r)
    }

    #[test]
    fn argo_conditions_on_vectors_and_scalars() {
        let v = |x: &[f64]| Value::Array(x.to_vec());
        assert_eq!(run("result[0] > 0.90", v(&[0.95])), Ok(true));
        assert_eq!(run("result[0] > 0.90", v(&[0.85])), Ok(false));
        assert_eq!(run("result[0] >= 0.95", v(&[0.95, 0.1])), Ok(true));
        assert_eq!(run("result[-1] < 1", v(&[5.0, 0.5])), Ok(true));
        // An empty vector makes result[0] an error, as in Argo.
        assert!(run("result[0] > 0.9", v(&[])).unwrap_err().contains("out of range"));
        // A bare comparison of the array is an error on every vector.
        assert!(run("result >= 0.95", v(&[0.99])).is_err());
        assert_eq!(run("result >= 0.95", Value::Num(0.99)), Ok(true));
        // NaN compares false; != is true.
        assert_eq!(run("result[0] > 0.9", v(&[f64::NAN])), Ok(false));
        assert_eq!(run("result[0] <= 0.9", v(&[f64::NAN])), Ok(false));
        assert_eq!(run("result[0] != 0.9", v(&[f64::NAN])), Ok(true));
        assert_eq!(run("isNaN(result[0]) || result[0] < 0.1", v(&[f64::NAN])), Ok(true));
        assert_eq!(run("len(result) > 0 && result[0] < 10", v(&[])), Ok(false));
        assert_eq!(run("not (result[0] < 10) and true", v(&[11.0])), Ok(true));
        assert_eq!(run("all(result, {# < 5})", v(&[1.0, 4.0])), Ok(true));
        assert_eq!(run("any(result, # > 3)", v(&[1.0, 4.0])), Ok(true));
        assert_eq!(run("none(result, {# > 3})", v(&[1.0, 4.0])), Ok(false));
        assert_eq!(run("result[0] * 100 - 1 >= 98 % 50 + 47", v(&[0.99])), Ok(true));
        assert!(run("result[0]", v(&[1.0])).unwrap_err().contains("expected bool"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        for (e, needle) in [
            ("result[0] matches \"x\"", "'\"' at column 19"),
            ("sum(result) > 1", "sum()"),
            ("foo > 1", "\"foo\""),
            ("result[0] > ", "end of the expression"),
            ("result[0] ? 1 : 2", "'?'"),
            ("len(result, 1) > 0", "takes 1"),
        ] {
            let err = Expr::parse(e).unwrap_err();
            assert!(err.contains(needle), "{e}: {err}");
        }
    }

    #[test]
    fn bare_result_comparison_is_detected() {
        assert!(Expr::parse("result >= 0.95").unwrap().compares_bare_result());
        assert!(Expr::parse("result[0] > 1 || 0.5 < result").unwrap().compares_bare_result());
        assert!(!Expr::parse("result[0] >= 0.95").unwrap().compares_bare_result());
        assert_eq!(Expr::parse("result[0] > 0.9").unwrap().simple_threshold(), Some((">", 0.9)));
    }
}
