//! Binary operators between vectors and scalars: label matching
//! (`on`/`ignoring`, `group_left`/`group_right`), arithmetic, comparisons
//! and set operators, as Prometheus' engine applies them.

use super::*;

/// Matching of a vector–vector operation.
pub(super) struct Matching {
    on: bool,
    names: Vec<String>,
    card: Card,
    include: Vec<String>,
}

#[derive(PartialEq, Clone, Copy)]
pub(super) enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

pub(super) fn signature(l: &Labels, on: bool, names: &[String]) -> String {
    let mut s = String::new();
    for (k, v) in l.iter() {
        let listed = names.iter().any(|n| n == k);
        if (on && listed) || (!on && !listed && k != NAME) {
            s.push_str(k);
            s.push('\u{ff}');
            s.push_str(v);
            s.push('\u{ff}');
        }
    }
    s
}

pub(super) fn no_duplicates(v: &[Sample]) -> R<()> {
    if v.len() > 1 {
        let mut l: Vec<&Labels> = v.iter().map(|s| &s.labels).collect();
        l.sort_unstable();
        if l.windows(2).any(|w| w[0] == w[1]) {
            return Err("vector cannot contain metrics with the same labelset".into());
        }
    }
    Ok(())
}

pub(super) fn arith(op: &str, l: f64, r: f64) -> (f64, bool) {
    match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "^" => (l.powf(r), true),
        "%" => (l % r, true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        _ => unreachable!("checked by parse"),
    }
}

pub(super) fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

pub(super) fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "^" | "%")
}

pub(super) fn matching(b: &BinaryExpr, op: &str) -> Matching {
    let set = matches!(op, "and" | "or" | "unless");
    let Some(m) = &b.modifier else {
        return Matching {
            on: false,
            names: Vec::new(),
            card: if set { Card::ManyToMany } else { Card::OneToOne },
            include: Vec::new(),
        };
    };
    let (on, names) = match &m.matching {
        None => (false, Vec::new()),
        Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
        Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
    };
    let (card, include) = match &m.card {
        _ if set => (Card::ManyToMany, Vec::new()),
        VectorMatchCardinality::OneToOne => (Card::OneToOne, Vec::new()),
        VectorMatchCardinality::ManyToOne(l) => (Card::ManyToOne, l.labels.clone()),
        VectorMatchCardinality::OneToMany(l) => (Card::OneToMany, l.labels.clone()),
        VectorMatchCardinality::ManyToMany => (Card::ManyToMany, Vec::new()),
    };
    Matching { on, names, card, include }
}

/// Prometheus's `VectorscalarBinop`.
pub(super) fn vector_scalar(op: &str, v: Vec<Sample>, s: f64, swap: bool, return_bool: bool) -> Vec<Sample> {
    let mut out = Vec::with_capacity(v.len());
    for mut x in v {
        let (l, r) = if swap { (s, x.value) } else { (x.value, s) };
        let (mut value, mut keep) = arith(op, l, r);
        if is_comparison(op) && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            x.value = value;
            if drops_name(op) || return_bool {
                x.labels = drop_name(&x.labels);
            }
            out.push(x);
        }
    }
    out
}

pub(super) fn and_unless(l: Vec<Sample>, r: Vec<Sample>, m: &Matching, and: bool) -> Vec<Sample> {
    if and && (l.is_empty() || r.is_empty()) {
        return Vec::new();
    }
    let right: HashSet<String> = r.iter().map(|s| signature(&s.labels, m.on, &m.names)).collect();
    l.into_iter().filter(|s| right.contains(&signature(&s.labels, m.on, &m.names)) == and).collect()
}

pub(super) fn or(l: Vec<Sample>, r: Vec<Sample>, m: &Matching) -> Vec<Sample> {
    let left: HashSet<String> = l.iter().map(|s| signature(&s.labels, m.on, &m.names)).collect();
    let mut out = l;
    out.extend(r.into_iter().filter(|s| !left.contains(&signature(&s.labels, m.on, &m.names))));
    out
}

/// Prometheus's `VectorBinop` with its `resultMetric`.
pub(super) fn vector_binop(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    m: &Matching,
    return_bool: bool,
) -> R<Vec<Sample>> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let (lhs, rhs) = if m.card == Card::OneToMany { (rhs, lhs) } else { (lhs, rhs) };
    let mut right: HashMap<String, &Sample> = HashMap::with_capacity(rhs.len());
    for rs in &rhs {
        let sig = signature(&rs.labels, m.on, &m.names);
        if right.insert(sig, rs).is_some() {
            let side = if m.card == Card::OneToMany { "left" } else { "right" };
            return Err(format!(
                "found duplicate series for the match group on the {side} hand-side of the operation; \
                 many-to-many matching not allowed: matching labels must be unique on one side"
            ));
        }
    }
    let mut matched: HashMap<String, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &lhs {
        let sig = signature(&ls.labels, m.on, &m.names);
        let Some(rs) = right.get(&sig) else { continue };
        let (vl, vr) = if m.card == Card::OneToMany { (rs.value, ls.value) } else { (ls.value, rs.value) };
        let (mut value, keep) = arith(op, vl, vr);
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut metric = result_metric(&ls.labels, &rs.labels, op, m);
        if return_bool {
            metric = drop_name(&metric);
        }
        let exists = matched.contains_key(&sig);
        if m.card == Card::OneToOne {
            if exists {
                return Err(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                );
            }
            matched.insert(sig, HashSet::new());
        } else {
            let set = matched.entry(sig).or_default();
            if !set.insert(metric.clone()) {
                return Err("multiple matches for labels: grouping labels must ensure unique matches".into());
            }
        }
        out.push(Sample { labels: metric, value });
    }
    Ok(out)
}

pub(super) fn result_metric(lhs: &Labels, rhs: &Labels, op: &str, m: &Matching) -> Labels {
    let mut l: Vec<(String, String)> = lhs.to_vec();
    if drops_name(op) {
        l.retain(|(k, _)| k != NAME);
    }
    if m.card == Card::OneToOne {
        if m.on {
            l.retain(|(k, _)| m.names.contains(k));
        } else {
            l.retain(|(k, _)| !m.names.contains(k));
        }
    }
    for name in &m.include {
        l.retain(|(k, _)| k != name);
        let v = label(rhs, name);
        if !v.is_empty() {
            l.push((name.clone(), v.to_string()));
        }
    }
    l.sort();
    l.into()
}
