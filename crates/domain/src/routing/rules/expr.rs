//! The condition language: a lexer, a recursive-descent parser into [`Expr`], a type check against a
//! [`Schema`], and evaluation against [`Facts`]. The grammar is in `docs/routing-rules.md` and the
//! [module documentation](super).

use std::{
    collections::BTreeSet,
    fmt::{self, Write as _},
};

use super::{Facts, Schema, Skill, Value};
use crate::context::VariableKind;

/// The longest condition accepted, in characters.
pub const MAX_CONDITION_LEN: usize = 4_000;
/// How deeply `not` and parentheses may nest; deeper is surely generated, and recursion must stay bounded.
pub const MAX_DEPTH: usize = 64;

/// Contact fields every schema knows, all text. Other `contact.` fields must be declared in the schema.
pub const CONTACT_FIELDS: [&str; 4] = ["customer_id", "email", "phone", "name"];

/// A condition that does not parse or does not type-check: the 1-based column (in characters) and what was
/// wrong or expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// 1-based, in characters; one past the end for "expected more".
    pub column: usize,
    /// What was wrong or expected, as a sentence fragment for an admin.
    pub message: String,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError { column, message: message.into() })
}

/// A parsed condition. Columns are kept so that the type check can point at the offending part.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `true` or `false`.
    Const(bool),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `path exists`.
    Exists {
        path: Path,
        column: usize,
    },
    Compare(Box<Comparison>),
}

/// `left op right`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub left: Operand,
    pub op: Op,
    /// Where the operator is, for type errors.
    pub column: usize,
    pub right: Operand,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    StartsWith,
    EndsWith,
}

impl Op {
    /// The operator as written in a condition.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        Some(match word.to_ascii_lowercase().as_str() {
            "in" => Op::In,
            "contains" => Op::Contains,
            "starts_with" => Op::StartsWith,
            "ends_with" => Op::EndsWith,
            _ => return None,
        })
    }
}

/// A value in a comparison, with the column where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Operand {
    pub column: usize,
    pub kind: OperandKind,
}

/// The kinds of operand.
#[derive(Debug, Clone, PartialEq)]
pub enum OperandKind {
    Text(String),
    Number(f64),
    Bool(bool),
    /// `[...]`: literals only (text, numbers or booleans), never paths or lists.
    List(Vec<Operand>),
    Path(Path),
}

/// What a path names. The set is closed: anything else is a parse error, or a check error for `context.` and
/// custom `contact.` names the schema does not declare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Path {
    /// `channel`: the channel type, such as `sms` or `live_chat`.
    Channel,
    /// `language`: the conversation's language, such as `en-US`.
    Language,
    /// `workstream`: the workstream's name.
    Workstream,
    /// `context.Name`: a context variable of the conversation.
    Context(String),
    /// `contact.field`: `customer_id`, `email`, `phone`, `name` or a custom field the schema declares.
    Contact(String),
    /// `conversation.priority`, a number.
    Priority,
    /// `conversation.severity`, a number.
    Severity,
    /// `conversation.skills`: the skills classification has required so far.
    Skills,
}

const KEYWORDS: [&str; 10] =
    ["and", "or", "not", "in", "contains", "starts_with", "ends_with", "exists", "true", "false"];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

impl Expr {
    /// Parses a condition; names are checked only as far as the grammar goes (see [`Expr::check`]).
    pub fn parse(source: &str) -> Result<Expr, ExprError> {
        let length = source.chars().count();
        if length > MAX_CONDITION_LEN {
            return err(MAX_CONDITION_LEN + 1, format!("a condition is at most {MAX_CONDITION_LEN} characters"));
        }
        let tokens = lex(source)?;
        let mut parser = Parser { tokens, pos: 0, depth: 0 };
        if parser.peek().tok == Tok::End {
            return err(1, "the condition is empty; write `true` for a rule that always matches");
        }
        let expr = parser.or()?;
        let next = parser.peek();
        if next.tok != Tok::End {
            return err(next.column, format!("expected `and`, `or` or the end of the condition, found {}", next.tok));
        }
        Ok(expr)
    }

    /// Checks every name against the schema and every comparison's types.
    pub fn check(&self, schema: &Schema) -> Result<(), ExprError> {
        match self {
            Expr::Const(_) => Ok(()),
            Expr::Not(e) => e.check(schema),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.check(schema)?;
                b.check(schema)
            }
            Expr::Exists { path, column } => path_type(path, *column, schema).map(|_| ()),
            Expr::Compare(c) => c.check(schema),
        }
    }

    /// Evaluates the condition. A comparison whose value is missing is false, whatever its operator; `not`
    /// then makes it true, so `not context.X exists` matches when `X` is absent.
    pub fn matches(&self, facts: &Facts) -> bool {
        match self {
            Expr::Const(b) => *b,
            Expr::Not(e) => !e.matches(facts),
            Expr::And(a, b) => a.matches(facts) && b.matches(facts),
            Expr::Or(a, b) => a.matches(facts) || b.matches(facts),
            Expr::Exists { path, .. } => resolve_path(path, facts).is_some(),
            Expr::Compare(c) => c.matches(facts),
        }
    }

    /// Every path the condition reads, such as the context variables a rule depends on.
    pub fn paths(&self) -> BTreeSet<&Path> {
        let mut out = BTreeSet::new();
        self.collect_paths(&mut out);
        out
    }

    fn collect_paths<'a>(&'a self, out: &mut BTreeSet<&'a Path>) {
        match self {
            Expr::Const(_) => {}
            Expr::Not(e) => e.collect_paths(out),
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.collect_paths(out);
                b.collect_paths(out);
            }
            Expr::Exists { path, .. } => {
                out.insert(path);
            }
            Expr::Compare(c) => {
                for operand in [&c.left, &c.right] {
                    if let OperandKind::Path(p) = &operand.kind {
                        out.insert(p);
                    }
                }
            }
        }
    }
}

// ---- Lexer ----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Cmp(Op),
    End,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "`{w}`"),
            Tok::Str(s) => write!(f, "the text {}", quote(s)),
            Tok::Num(n) => write!(f, "the number {n}"),
            Tok::LParen => f.write_str("`(`"),
            Tok::RParen => f.write_str("`)`"),
            Tok::LBracket => f.write_str("`[`"),
            Tok::RBracket => f.write_str("`]`"),
            Tok::Comma => f.write_str("`,`"),
            Tok::Dot => f.write_str("`.`"),
            Tok::Cmp(op) => write!(f, "`{}`", op.as_str()),
            Tok::End => f.write_str("the end of the condition"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    column: usize,
}

fn lex(source: &str) -> Result<Vec<Token>, ExprError> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let next = chars.get(i + 1).copied();
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            '[' => (Tok::LBracket, 1),
            ']' => (Tok::RBracket, 1),
            ',' => (Tok::Comma, 1),
            '.' => (Tok::Dot, 1),
            '=' if next == Some('=') => (Tok::Cmp(Op::Eq), 2),
            '=' => return err(column, "`=` is not an operator; compare with `==`"),
            '!' if next == Some('=') => (Tok::Cmp(Op::Ne), 2),
            '!' => return err(column, "`!` is not an operator; negate with `not`"),
            '<' if next == Some('=') => (Tok::Cmp(Op::Le), 2),
            '<' => (Tok::Cmp(Op::Lt), 1),
            '>' if next == Some('=') => (Tok::Cmp(Op::Ge), 2),
            '>' => (Tok::Cmp(Op::Gt), 1),
            '&' => return err(column, "`&` is not an operator; use `and`"),
            '|' => return err(column, "`|` is not an operator; use `or`"),
            '"' | '\'' => lex_string(&chars, i)?,
            '-' | '0'..='9' => lex_number(&chars, i)?,
            c if c.is_alphabetic() || c == '_' => {
                let len = chars[i..].iter().take_while(|c| c.is_alphanumeric() || **c == '_').count();
                (Tok::Word(chars[i..i + len].iter().collect()), len)
            }
            c => return err(column, format!("unexpected character `{c}`")),
        };
        tokens.push(Token { tok, column });
        i += len;
    }
    tokens.push(Token { tok: Tok::End, column: chars.len() + 1 });
    Ok(tokens)
}

/// A quoted string starting at `chars[start]`; returns the token and the characters consumed.
fn lex_string(chars: &[char], start: usize) -> Result<(Tok, usize), ExprError> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        let Some(&c) = chars.get(i) else {
            return err(start + 1, format!("the text starting here has no closing {quote}"));
        };
        match c {
            c if c == quote => return Ok((Tok::Str(out), i + 1 - start)),
            '\\' => {
                let escape = chars.get(i + 1).copied();
                let simple = match escape {
                    Some('\\') => Some('\\'),
                    Some('"') => Some('"'),
                    Some('\'') => Some('\''),
                    Some('n') => Some('\n'),
                    Some('t') => Some('\t'),
                    Some('r') => Some('\r'),
                    _ => None,
                };
                if let Some(s) = simple {
                    out.push(s);
                    i += 2;
                } else if escape == Some('u') && chars.get(i + 2) == Some(&'{') {
                    let digits: String = chars[i + 3..].iter().take_while(|c| c.is_ascii_hexdigit()).collect();
                    let close = i + 3 + digits.len();
                    let decoded = (chars.get(close) == Some(&'}') && (1..=6).contains(&digits.len()))
                        .then(|| u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32))
                        .flatten();
                    let Some(ch) = decoded else {
                        return err(
                            i + 1,
                            "expected a Unicode escape `\\u{…}` of 1 to 6 hex digits naming a character",
                        );
                    };
                    out.push(ch);
                    i = close + 1;
                } else {
                    let shown = escape.map_or_else(String::new, String::from);
                    return err(
                        i + 1,
                        format!("unknown escape `\\{shown}`; use \\\\, \\\", \\', \\n, \\t, \\r or \\u{{…}}"),
                    );
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn lex_number(chars: &[char], start: usize) -> Result<(Tok, usize), ExprError> {
    let digits_from = |i: usize| chars[i.min(chars.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = start;
    if chars[i] == '-' {
        i += 1;
    }
    let whole = digits_from(i);
    if whole == 0 {
        return err(start + 1, "expected a number after `-`");
    }
    i += whole;
    if chars.get(i) == Some(&'.') && chars.get(i + 1).is_some_and(char::is_ascii_digit) {
        i += 1 + digits_from(i + 1);
    }
    if matches!(chars.get(i), Some('e' | 'E')) {
        let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
        let exponent = digits_from(i + 1 + sign);
        if exponent > 0 {
            i += 1 + sign + exponent;
        }
    }
    if chars.get(i).is_some_and(|c| c.is_alphanumeric() || *c == '_') {
        return err(start + 1, "a number must not run into letters; quote text, or put a space after the number");
    }
    let text: String = chars[start..i].iter().collect();
    match text.parse::<f64>() {
        Ok(n) if n.is_finite() => Ok((Tok::Num(n), i - start)),
        _ => err(start + 1, format!("`{text}` is not a number this language can hold")),
    }
}

// ---- Parser ----

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The lexer always ends the list with `End`, and `advance` never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let token = self.peek().clone();
        if token.tok != Tok::End {
            self.pos += 1;
        }
        token
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(w) if w.eq_ignore_ascii_case(word))
    }

    fn deeper(&mut self, column: usize) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(column, format!("the condition nests deeper than {MAX_DEPTH} levels"));
        }
        Ok(())
    }

    // or = and { "or" and }
    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.at_word("or") {
            self.advance();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    // and = unary { "and" unary }
    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        while self.at_word("and") {
            self.advance();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    // unary = "not" unary | primary
    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.at_word("not") {
            let column = self.advance().column;
            self.deeper(column)?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    // primary = "(" or ")" | operand ( op operand | "exists" ) | "true" | "false"
    fn primary(&mut self) -> Result<Expr, ExprError> {
        if self.peek().tok == Tok::LParen {
            let open = self.advance().column;
            self.deeper(open)?;
            let inner = self.or()?;
            self.depth -= 1;
            let close = self.advance();
            if close.tok != Tok::RParen {
                return err(
                    close.column,
                    format!("expected `and`, `or` or `)` to close the `(` at column {open}, found {}", close.tok),
                );
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        let next = self.peek().clone();
        let op = match &next.tok {
            Tok::Cmp(op) => Some(*op),
            Tok::Word(w) => Op::from_word(w),
            _ => None,
        };
        if let Some(op) = op {
            self.advance();
            let right = self.operand()?;
            return Ok(Expr::Compare(Box::new(Comparison { left, op, column: next.column, right })));
        }
        if self.at_word("exists") {
            self.advance();
            return match left.kind {
                OperandKind::Path(path) => Ok(Expr::Exists { path, column: left.column }),
                _ => err(next.column, "`exists` follows a path such as `context.Name`, not a literal"),
            };
        }
        match left.kind {
            OperandKind::Bool(b) => Ok(Expr::Const(b)),
            _ => err(
                next.column,
                format!(
                    "expected an operator after {} (==, !=, <, <=, >, >=, in, contains, starts_with, ends_with \
                     or exists), found {}",
                    Described(&left),
                    next.tok
                ),
            ),
        }
    }

    // operand = string | number | "true" | "false" | list | path
    fn operand(&mut self) -> Result<Operand, ExprError> {
        let token = self.advance();
        let column = token.column;
        let kind = match token.tok {
            Tok::Str(s) => OperandKind::Text(s),
            Tok::Num(n) => OperandKind::Number(n),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => OperandKind::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => OperandKind::Bool(false),
            Tok::Word(w) if is_keyword(&w) => {
                return err(column, format!("expected a value, found the keyword `{w}`"));
            }
            Tok::Word(w) => OperandKind::Path(self.path(&w, column)?),
            Tok::LBracket => OperandKind::List(self.list(column)?),
            other => {
                return err(
                    column,
                    format!(
                        "expected a value (text in quotes, a number, a [list], true, false or a path such as \
                         `context.Name`), found {other}"
                    ),
                );
            }
        };
        Ok(Operand { column, kind })
    }

    // list = "[" [ literal { "," literal } [ "," ] ] "]"
    fn list(&mut self, open: usize) -> Result<Vec<Operand>, ExprError> {
        let mut items = Vec::new();
        loop {
            if self.peek().tok == Tok::RBracket {
                self.advance();
                return Ok(items);
            }
            let token = self.advance();
            let kind = match token.tok {
                Tok::Str(s) => OperandKind::Text(s),
                Tok::Num(n) => OperandKind::Number(n),
                Tok::Word(w) if w.eq_ignore_ascii_case("true") => OperandKind::Bool(true),
                Tok::Word(w) if w.eq_ignore_ascii_case("false") => OperandKind::Bool(false),
                Tok::End => return err(token.column, format!("expected `]` to close the `[` at column {open}")),
                other => {
                    return err(token.column, format!("a list holds only text, numbers, true or false, found {other}"));
                }
            };
            items.push(Operand { column: token.column, kind });
            let after = self.advance();
            match after.tok {
                Tok::Comma => {}
                Tok::RBracket => return Ok(items),
                other => {
                    return err(
                        after.column,
                        format!("expected `,` or `]` to close the `[` at column {open}, found {other}"),
                    );
                }
            }
        }
    }

    // path = "channel" | "language" | "workstream" | ("context" | "contact" | "conversation") "." name
    fn path(&mut self, root: &str, column: usize) -> Result<Path, ExprError> {
        let root_lower = root.to_ascii_lowercase();
        let path = match root_lower.as_str() {
            "channel" => Path::Channel,
            "language" => Path::Language,
            "workstream" => Path::Workstream,
            "context" | "contact" | "conversation" => {
                let dot = self.advance();
                if dot.tok != Tok::Dot {
                    return err(dot.column, format!("expected `.` and a field name after `{root}`, found {}", dot.tok));
                }
                let name_token = self.advance();
                let name = match name_token.tok {
                    Tok::Word(w) => w,
                    Tok::Str(s) if !s.is_empty() => s,
                    other => {
                        return err(
                            name_token.column,
                            format!("expected a name after `{root}.` (quote it if it has spaces), found {other}"),
                        );
                    }
                };
                match root_lower.as_str() {
                    "context" => Path::Context(name),
                    "contact" => {
                        let builtin = CONTACT_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(&name));
                        Path::Contact(builtin.map_or(name, |f| (*f).to_string()))
                    }
                    _ => match name.to_ascii_lowercase().as_str() {
                        "priority" => Path::Priority,
                        "severity" => Path::Severity,
                        "skills" => Path::Skills,
                        _ => {
                            return err(
                                name_token.column,
                                format!("unknown field `conversation.{name}`; use priority, severity or skills"),
                            );
                        }
                    },
                }
            }
            _ => {
                return err(
                    column,
                    format!(
                        "unknown name `{root}`; a path is channel, language, workstream, context.<variable>, \
                         contact.<field> or conversation.<field>"
                    ),
                );
            }
        };
        if self.peek().tok == Tok::Dot {
            return err(self.peek().column, format!("`{path}` has no fields"));
        }
        Ok(path)
    }
}

// ---- Type check ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Text,
    Number,
    Bool,
    /// A literal list; `None` when it is empty, which fits any element type.
    List(Option<Scalar>),
    Skills,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Text,
    Number,
    Bool,
}

impl Type {
    fn scalar(self) -> Option<Scalar> {
        match self {
            Type::Text => Some(Scalar::Text),
            Type::Number => Some(Scalar::Number),
            Type::Bool => Some(Scalar::Bool),
            Type::List(_) | Type::Skills => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Type::Text => "text",
            Type::Number => "a number",
            Type::Bool => "true or false",
            Type::List(_) => "a list",
            Type::Skills => "a list of skills",
        }
    }
}

fn path_type(path: &Path, column: usize, schema: &Schema) -> Result<Type, ExprError> {
    let kind_type = |k: VariableKind| match k {
        VariableKind::Text => Type::Text,
        VariableKind::Number => Type::Number,
    };
    Ok(match path {
        Path::Channel | Path::Language | Path::Workstream => Type::Text,
        Path::Priority | Path::Severity => Type::Number,
        Path::Skills => Type::Skills,
        Path::Context(name) => match schema.context.get(name) {
            Some(k) => kind_type(*k),
            None => return err(column, unknown("context variable", name, schema.context.keys())),
        },
        Path::Contact(name) if CONTACT_FIELDS.contains(&name.as_str()) => Type::Text,
        Path::Contact(name) => match schema.contact_fields.get(name) {
            Some(k) => kind_type(*k),
            None => {
                let known = CONTACT_FIELDS.iter().map(|s| s.to_string()).chain(schema.contact_fields.keys().cloned());
                return err(column, unknown("contact field", name, known.collect::<Vec<_>>().iter()));
            }
        },
    })
}

fn unknown<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String> + Clone) -> String {
    let mut message = format!("unknown {what} `{name}`");
    if let Some(near) = known.clone().find(|k| k.eq_ignore_ascii_case(name)) {
        let _ = write!(message, "; did you mean `{near}`? (names are case-sensitive)");
        return message;
    }
    let listed: Vec<String> = known.take(20).map(|k| format!("`{k}`")).collect();
    if listed.is_empty() {
        message.push_str("; none are declared");
    } else {
        let _ = write!(message, "; known: {}", listed.join(", "));
    }
    message
}

fn operand_type(operand: &Operand, schema: &Schema) -> Result<Type, ExprError> {
    Ok(match &operand.kind {
        OperandKind::Text(_) => Type::Text,
        OperandKind::Number(_) => Type::Number,
        OperandKind::Bool(_) => Type::Bool,
        OperandKind::Path(p) => path_type(p, operand.column, schema)?,
        OperandKind::List(items) => {
            let mut element: Option<(Scalar, &Operand)> = None;
            for item in items {
                let Some(t) = operand_type(item, schema)?.scalar() else {
                    return err(item.column, "a list holds only text, numbers, true or false");
                };
                match element {
                    Some((first, first_item)) if first != t => {
                        return err(
                            item.column,
                            format!(
                                "a list holds values of one type, but {} is {} and {} is {}",
                                Described(first_item),
                                scalar_type(first).name(),
                                Described(item),
                                scalar_type(t).name()
                            ),
                        );
                    }
                    Some(_) => {}
                    None => element = Some((t, item)),
                }
            }
            Type::List(element.map(|(t, _)| t))
        }
    })
}

fn scalar_type(s: Scalar) -> Type {
    match s {
        Scalar::Text => Type::Text,
        Scalar::Number => Type::Number,
        Scalar::Bool => Type::Bool,
    }
}

impl Comparison {
    fn check(&self, schema: &Schema) -> Result<(), ExprError> {
        let left = operand_type(&self.left, schema)?;
        let right = operand_type(&self.right, schema)?;
        let op = self.op.as_str();
        let (l, r) = (Described(&self.left), Described(&self.right));
        let mismatch = |rule: &str| {
            err(self.column, format!("`{op}` {rule}, but {l} is {} and {r} is {}", left.name(), right.name()))
        };
        match self.op {
            Op::Eq | Op::Ne => match (left.scalar(), right.scalar()) {
                (Some(a), Some(b)) if a == b => Ok(()),
                _ if matches!(right, Type::List(_)) => {
                    mismatch("compares two values of one type; use `in` to test against a list")
                }
                _ if left == Type::Skills || right == Type::Skills => {
                    mismatch("compares two values of one type; use `conversation.skills contains \"name\"`")
                }
                _ => mismatch("compares two values of one type"),
            },
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match (left, right) {
                (Type::Number, Type::Number) => Ok(()),
                _ => mismatch("compares numbers"),
            },
            Op::In => match (left.scalar(), right) {
                (Some(_), Type::List(None)) | (Some(Scalar::Text), Type::Skills) => Ok(()),
                (Some(a), Type::List(Some(b))) if a == b => Ok(()),
                _ => mismatch("tests a value against a list of the same type, or text against conversation.skills"),
            },
            Op::Contains => match (left, right) {
                (Type::Text | Type::Skills, Type::Text) => Ok(()),
                _ => mismatch("looks for text within text or conversation.skills"),
            },
            Op::StartsWith | Op::EndsWith => match (left, right) {
                (Type::Text, Type::Text) => Ok(()),
                _ => mismatch("compares text with text"),
            },
        }
    }

    fn matches(&self, facts: &Facts) -> bool {
        let (Some(left), Some(right)) = (resolve(&self.left, facts), resolve(&self.right, facts)) else {
            return false;
        };
        compare(&left, self.op, &right)
    }
}

// ---- Evaluation ----

enum Val<'a> {
    Text(&'a str),
    Number(f64),
    Bool(bool),
    List(&'a [Operand]),
    Skills(&'a [Skill]),
}

fn resolve<'a>(operand: &'a Operand, facts: &'a Facts) -> Option<Val<'a>> {
    match &operand.kind {
        OperandKind::Path(p) => resolve_path(p, facts),
        _ => literal(operand),
    }
}

fn literal(operand: &Operand) -> Option<Val<'_>> {
    match &operand.kind {
        OperandKind::Text(s) => Some(Val::Text(s)),
        OperandKind::Number(n) => Some(Val::Number(*n)),
        OperandKind::Bool(b) => Some(Val::Bool(*b)),
        OperandKind::List(items) => Some(Val::List(items)),
        OperandKind::Path(_) => None,
    }
}

fn resolve_path<'a>(path: &Path, facts: &'a Facts) -> Option<Val<'a>> {
    let value = |v: &'a Value| match v {
        Value::Text(s) => Val::Text(s),
        Value::Number(n) => Val::Number(*n),
    };
    match path {
        Path::Channel => facts.channel.as_deref().map(Val::Text),
        Path::Language => facts.language.as_deref().map(Val::Text),
        Path::Workstream => facts.workstream.as_deref().map(Val::Text),
        Path::Context(name) => facts.context.get(name).map(value),
        Path::Contact(name) => facts.contact.get(name).map(value),
        Path::Priority => facts.priority.map(|p| Val::Number(f64::from(p))),
        Path::Severity => facts.severity.map(|s| Val::Number(f64::from(s))),
        Path::Skills => (!facts.skills.is_empty()).then_some(Val::Skills(&facts.skills)),
    }
}

fn fold(s: &str) -> impl Iterator<Item = char> + Clone + '_ {
    s.chars().flat_map(char::to_lowercase)
}

/// Text equality as conditions compare: ignoring case.
pub(crate) fn text_eq(a: &str, b: &str) -> bool {
    fold(a).eq(fold(b))
}

/// Compares two resolved values. Values of types the check would not have allowed (facts whose type drifted
/// from the schema) compare as false.
fn compare(left: &Val<'_>, op: Op, right: &Val<'_>) -> bool {
    match (left, op, right) {
        (Val::Text(a), Op::Eq, Val::Text(b)) => text_eq(a, b),
        (Val::Text(a), Op::Ne, Val::Text(b)) => !text_eq(a, b),
        (Val::Number(a), Op::Eq, Val::Number(b)) => a == b,
        (Val::Number(a), Op::Ne, Val::Number(b)) => a != b,
        (Val::Bool(a), Op::Eq, Val::Bool(b)) => a == b,
        (Val::Bool(a), Op::Ne, Val::Bool(b)) => a != b,
        (Val::Number(a), Op::Lt, Val::Number(b)) => a < b,
        (Val::Number(a), Op::Le, Val::Number(b)) => a <= b,
        (Val::Number(a), Op::Gt, Val::Number(b)) => a > b,
        (Val::Number(a), Op::Ge, Val::Number(b)) => a >= b,
        (_, Op::In, Val::List(items)) => {
            items.iter().any(|item| literal(item).is_some_and(|v| compare(left, Op::Eq, &v)))
        }
        (Val::Text(a), Op::In, Val::Skills(skills)) | (Val::Skills(skills), Op::Contains, Val::Text(a)) => {
            skills.iter().any(|s| text_eq(&s.name, a))
        }
        (Val::Text(a), Op::Contains, Val::Text(b)) => a.to_lowercase().contains(&b.to_lowercase()),
        (Val::Text(a), Op::StartsWith, Val::Text(b)) => a.to_lowercase().starts_with(&b.to_lowercase()),
        (Val::Text(a), Op::EndsWith, Val::Text(b)) => a.to_lowercase().ends_with(&b.to_lowercase()),
        _ => false,
    }
}

// ---- Display: a canonical form, with every `and`/`or` group in parentheses ----

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && !is_keyword(s)
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |s: &str| if is_identifier(s) { s.to_string() } else { quote(s) };
        match self {
            Path::Channel => f.write_str("channel"),
            Path::Language => f.write_str("language"),
            Path::Workstream => f.write_str("workstream"),
            Path::Context(n) => write!(f, "context.{}", name(n)),
            Path::Contact(n) => write!(f, "contact.{}", name(n)),
            Path::Priority => f.write_str("conversation.priority"),
            Path::Severity => f.write_str("conversation.severity"),
            Path::Skills => f.write_str("conversation.skills"),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            OperandKind::Text(s) => f.write_str(&quote(s)),
            OperandKind::Number(n) => write!(f, "{n}"),
            OperandKind::Bool(b) => write!(f, "{b}"),
            OperandKind::Path(p) => write!(f, "{p}"),
            OperandKind::List(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
        }
    }
}

/// An operand in an error message: paths in backticks, literals as written.
struct Described<'a>(&'a Operand);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.kind {
            OperandKind::Path(p) => write!(f, "`{p}`"),
            _ => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Const(b) => write!(f, "{b}"),
            Expr::Not(e) => match **e {
                Expr::And(..) | Expr::Or(..) => write!(f, "not {e}"),
                _ => write!(f, "not ({e})"),
            },
            Expr::And(a, b) => write!(f, "({a} and {b})"),
            Expr::Or(a, b) => write!(f, "({a} or {b})"),
            Expr::Exists { path, .. } => write!(f, "{path} exists"),
            Expr::Compare(c) => write!(f, "{} {} {}", c.left, c.op.as_str(), c.right),
        }
    }
}
