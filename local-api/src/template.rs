//! Reads `template.yaml`: the tables it deploys and the API events it routes. CloudFormation
//! tags (`!Ref X`, `!GetAtt A.B`, `!Sub s`) become their long forms (`{"Ref": "X"}` ...).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub struct Template {
    root: Value,
}

/// One `Type: Api` event of a function.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiEvent {
    /// The function's crate name, from `CodeUri: functions/<name>`.
    pub function: String,
    pub method: String,
    pub path: String,
}

impl Template {
    /// `template.yaml` at the workspace root.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
    }

    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
        Ok(Template { root: to_json(yaml) })
    }

    pub fn resources(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.root["Resources"].as_object().into_iter().flatten().map(|(k, v)| (k.as_str(), v))
    }

    pub fn resources_of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + 'a {
        self.resources().filter(move |(_, r)| r["Type"] == ty)
    }

    /// Every table the template deploys: logical id and `Properties`.
    pub fn tables(&self) -> Vec<(&str, &Value)> {
        self.resources_of_type("AWS::DynamoDB::Table").map(|(id, r)| (id, &r["Properties"])).collect()
    }

    pub fn api_events(&self) -> Vec<ApiEvent> {
        let mut out = Vec::new();
        for (_, f) in self.resources_of_type("AWS::Serverless::Function") {
            let code_uri = f["Properties"]["CodeUri"].as_str().unwrap_or_default();
            let function = code_uri.trim_start_matches("functions/").trim_end_matches('/').to_owned();
            for event in f["Properties"]["Events"].as_object().into_iter().flatten().map(|(_, e)| e) {
                if event["Type"] == "Api" {
                    out.push(ApiEvent {
                        function: function.clone(),
                        method: event["Properties"]["Method"].as_str().unwrap_or_default().to_ascii_uppercase(),
                        path: event["Properties"]["Path"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        out.sort();
        out
    }

    /// Gives a parameter the value a deployment would pass (`--parameter-overrides`).
    pub fn override_parameter(&mut self, name: &str, value: &str) {
        self.root["Parameters"][name]["Default"] = Value::String(value.to_owned());
    }

    pub fn root(&self) -> &Value {
        &self.root
    }
}

fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or_default())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other).unwrap_or_default().trim().to_owned(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let long = match name {
                "Ref" | "Condition" => name.to_owned(),
                other => format!("Fn::{other}"),
            };
            let mut value = to_json(t.value);
            if name == "GetAtt" {
                if let Value::String(s) = &value {
                    value = Value::Array(s.splitn(2, '.').map(|p| Value::String(p.to_owned())).collect());
                }
            }
            Value::Object(Map::from_iter([(long, value)]))
        }
    }
}
