//! Which parser an input needs.

/// The input formats apiwarden reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InputFormat {
    /// CONTRACT §1 records: a JSON array of objects, or one object.
    Json,
    /// CONTRACT §1 records, one JSON object per line.
    Ndjson,
    /// CONTRACT §1 records: a MessagePack array of maps (or one map).
    MsgPack,
    /// nginx JSON access log lines ([`crate::NGINX_LOG_FORMAT`]).
    NginxJson,
    /// Apache / nginx combined access log lines.
    Combined,
}

impl InputFormat {
    /// The format an HTTP `Content-Type` announces; parameters (`; charset=utf-8`) are ignored.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let mime = ct.split(';').next().unwrap_or("").trim();
        let is = |name: &str| mime.eq_ignore_ascii_case(name);
        if is("application/json") {
            Some(Self::Json)
        } else if is("application/x-ndjson") || is("application/ndjson") || is("application/jsonl")
        {
            Some(Self::Ndjson)
        } else if is("application/msgpack")
            || is("application/x-msgpack")
            || is("application/vnd.msgpack")
        {
            Some(Self::MsgPack)
        } else {
            None
        }
    }

    /// `json`, `ndjson`, `msgpack`, `nginx_json` or `combined` (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(name.trim()))
    }

    pub const ALL: [InputFormat; 5] = [
        Self::Json,
        Self::Ndjson,
        Self::MsgPack,
        Self::NginxJson,
        Self::Combined,
    ];

    /// The name [`InputFormat::from_name`] accepts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Ndjson => "ndjson",
            Self::MsgPack => "msgpack",
            Self::NginxJson => "nginx_json",
            Self::Combined => "combined",
        }
    }

    /// Whether the format is one record per line (readable by [`crate::RecordReader`]).
    pub fn is_line_based(self) -> bool {
        matches!(self, Self::Ndjson | Self::NginxJson | Self::Combined)
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::InputFormat;

    #[test]
    fn content_types_and_names() {
        assert_eq!(
            InputFormat::from_content_type("application/json; charset=utf-8"),
            Some(InputFormat::Json)
        );
        assert_eq!(
            InputFormat::from_content_type("application/x-ndjson"),
            Some(InputFormat::Ndjson)
        );
        assert_eq!(
            InputFormat::from_content_type("Application/MsgPack"),
            Some(InputFormat::MsgPack)
        );
        assert_eq!(InputFormat::from_content_type("text/plain"), None);
        for format in InputFormat::ALL {
            assert_eq!(InputFormat::from_name(format.name()), Some(format));
        }
        assert_eq!(InputFormat::from_name("xml"), None);
    }
}
