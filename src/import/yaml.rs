//! Kubernetes-style YAML (several `---` documents) read into a plain tree
//! whose every node keeps its line, so that import errors can name the file,
//! the document, the line and the field. The only place `saphyr` is used.

use super::ImportError;
use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// A YAML node with its 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Null,
    /// Every scalar as its text (`10`, `true`, `"10s"`), and whether it was a
    /// number (so that `duration: 10` can mean seconds).
    Scalar(String, bool),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// One document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: String,
    /// 1-based position in the file.
    pub index: usize,
    pub root: Node,
}

impl Doc {
    pub fn kind(&self) -> String {
        self.root.get("kind").and_then(Node::text).unwrap_or_default()
    }
    pub fn api_version(&self) -> String {
        self.root.get("apiVersion").and_then(Node::text).unwrap_or_default()
    }
    pub fn name(&self) -> String {
        self.root.get("metadata").and_then(|m| m.get("name")).and_then(Node::text).unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<String> {
        self.root.get("metadata").and_then(|m| m.get("namespace")).and_then(Node::text)
    }
    /// `Kind/name`, as the import report and `--vary` paths name a resource.
    pub fn label(&self) -> String {
        format!("{}/{}", self.kind(), self.name())
    }
    /// An error at `node` (or the document) about `field`.
    pub fn err(&self, node: Option<&Node>, field: &str, message: impl Into<String>) -> ImportError {
        ImportError {
            file: self.file.clone(),
            document: Some((self.index, self.label())),
            line: node.map_or(self.root.line, |n| n.line),
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            Kind::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub fn text(&self) -> Option<String> {
        match &self.kind {
            Kind::Scalar(s, _) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn is_number(&self) -> bool {
        matches!(self.kind, Kind::Scalar(_, true))
    }
    pub fn seq(&self) -> &[Node] {
        match &self.kind {
            Kind::Seq(v) => v,
            _ => &[],
        }
    }
    pub fn map(&self) -> &[(String, Node)] {
        match &self.kind {
            Kind::Map(m) => m,
            _ => &[],
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self.kind, Kind::Null)
    }
}

fn scalar_text(s: &Scalar) -> (String, bool) {
    match s {
        Scalar::Null => (String::new(), false),
        Scalar::Boolean(b) => (b.to_string(), false),
        Scalar::Integer(i) => (i.to_string(), true),
        Scalar::FloatingPoint(f) => (f.to_string(), true),
        Scalar::String(s) => (s.to_string(), false),
    }
}

fn convert(y: &MarkedYaml, depth: usize) -> Result<Node, (usize, String)> {
    let line = y.span.start.line();
    if depth > 64 {
        return Err((line, "nested more than 64 levels deep".into()));
    }
    let kind = match &y.data {
        YamlData::Value(Scalar::Null) => Kind::Null,
        YamlData::Value(s) => {
            let (t, n) = scalar_text(s);
            Kind::Scalar(t, n)
        }
        YamlData::Representation(s, _, _) => Kind::Scalar(s.to_string(), false),
        YamlData::Sequence(v) => Kind::Seq(v.iter().map(|n| convert(n, depth + 1)).collect::<Result<_, _>>()?),
        YamlData::Mapping(m) => {
            let mut out = Vec::new();
            for (k, v) in m.iter() {
                let key = match &k.data {
                    YamlData::Value(s) => scalar_text(s).0,
                    YamlData::Representation(s, _, _) => s.to_string(),
                    _ => return Err((k.span.start.line(), "a mapping key must be a plain value".into())),
                };
                out.push((key, convert(v, depth + 1)?));
            }
            Kind::Map(out)
        }
        YamlData::Tagged(_, inner) => return convert(inner, depth),
        YamlData::Alias(_) => return Err((line, "YAML aliases (*name) are not supported: write the value out".into())),
        YamlData::BadValue => return Err((line, "a value that is not valid YAML".into())),
    };
    Ok(Node { line, kind })
}

/// The documents of `text`; empty documents are skipped.
pub fn load(text: &str, file: &str) -> Result<Vec<Doc>, ImportError> {
    let at = |line: usize, message: String| ImportError {
        file: file.to_string(),
        document: None,
        line,
        field: String::new(),
        message,
    };
    if text.contains("{{-") || text.contains("{{ .Values") || text.contains("{{ include") || text.contains("{{- ") {
        let line = text.lines().position(|l| l.contains("{{ .Values") || l.contains("{{-") || l.contains("{{ include"));
        return Err(at(
            line.map_or(0, |l| l + 1),
            "this looks like a Helm template: render it first (`helm template RELEASE CHART > rendered.yaml`) and import the output".into(),
        ));
    }
    let docs =
        MarkedYaml::load_from_str(text).map_err(|e| at(e.marker().line(), format!("not valid YAML: {}", e.info())))?;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let root = convert(d, 0).map_err(|(line, m)| at(line, m))?;
        if root.is_null() {
            continue;
        }
        // `kubectl get ... -o yaml|json` wraps several resources in a v1 `List`: its items are the documents.
        if root.get("kind").and_then(Node::text).as_deref() == Some("List") {
            if let Some(items) = root.get("items") {
                for item in items.seq() {
                    if !item.is_null() {
                        out.push(Doc { file: file.to_string(), index: i + 1, root: item.clone() });
                    }
                }
                continue;
            }
        }
        out.push(Doc { file: file.to_string(), index: i + 1, root });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_lines_and_scalars_their_text() {
        let docs = load("# c\n---\nkind: A\nspec:\n  n: 10\n  s: \"10\"\n---\n---\nkind: B\n", "f.yaml").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].kind(), "A");
        let n = docs[0].root.get("spec").unwrap().get("n").unwrap();
        assert_eq!((n.line, n.text().unwrap().as_str(), n.is_number()), (5, "10", true));
        assert!(!docs[0].root.get("spec").unwrap().get("s").unwrap().is_number());
        assert_eq!(docs[1].kind(), "B");
        let e = load("a: [1, 2\n", "bad.yaml").unwrap_err();
        assert!(e.to_string().contains("bad.yaml") && e.to_string().contains("not valid YAML"), "{e}");
        let e = load("spec:\n  replicas: {{ .Values.replicas }}\n", "chart.yaml").unwrap_err();
        assert!(e.to_string().contains("helm template"), "{e}");
    }
}
