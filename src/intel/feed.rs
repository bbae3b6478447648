//! One feed: read it (http(s) with timeouts, a size cap counted while reading and few redirects;
//! or a local file) and parse it with feed-rs (RSS 0.9x/1.0/2.0, Atom, JSON Feed). feed-rs's XML
//! reader does not expand custom entities, so billion-laughs and external-entity feeds are inert.

use std::time::Duration;

use crate::intel::extract;

/// The most a feed may weigh.
pub const MAX_FEED_BYTES: u64 = 10 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;
/// Kept of an item's summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 2_000;

#[derive(Debug, Clone)]
pub struct FeedItem {
    pub guid: String,
    pub title: String,
    pub link: Option<String>,
    pub published: Option<String>,
    pub summary: String,
    /// Every technique id in the title, summary and content.
    pub technique_ids: Vec<String>,
}

/// Reads and parses the feed at `source`; the error is a sentence for the scan report.
pub async fn fetch(source: &str, timeout: Duration) -> Result<Vec<FeedItem>, String> {
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        download(source, timeout).await?
    } else {
        let metadata = tokio::fs::metadata(source).await.map_err(|err| format!("cannot read {source}: {err}"))?;
        if metadata.len() > MAX_FEED_BYTES {
            return Err(format!("the feed is larger than {} MiB", MAX_FEED_BYTES / 1024 / 1024));
        }
        tokio::fs::read(source).await.map_err(|err| format!("cannot read {source}: {err}"))?
    };
    tokio::task::spawn_blocking(move || parse(&bytes)).await.map_err(|err| format!("parsing failed: {err}"))?
}

async fn download(url: &str, timeout: Duration) -> Result<Vec<u8>, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .no_proxy()
        .user_agent(concat!("aegis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| err.to_string())?;
    let describe = |err: reqwest::Error| {
        if err.is_timeout() {
            format!("no answer within {} s", timeout.as_secs())
        } else if err.is_redirect() {
            format!("too many redirects (more than {MAX_REDIRECTS})")
        } else {
            format!("cannot fetch: {err}")
        }
    };
    let mut response = client.get(url).send().await.map_err(describe)?;
    if !response.status().is_success() {
        return Err(format!("the server answered {}", response.status()));
    }
    if response.content_length().is_some_and(|length| length > MAX_FEED_BYTES) {
        return Err(format!("the feed is larger than {} MiB", MAX_FEED_BYTES / 1024 / 1024));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(describe)? {
        if body.len() as u64 + chunk.len() as u64 > MAX_FEED_BYTES {
            return Err(format!("the feed is larger than {} MiB", MAX_FEED_BYTES / 1024 / 1024));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Parses RSS, Atom or JSON Feed bytes into items with the technique ids they mention.
pub fn parse(bytes: &[u8]) -> Result<Vec<FeedItem>, String> {
    let feed = feed_rs::parser::parse(bytes).map_err(|err| format!("not a readable RSS, Atom or JSON feed: {err}"))?;
    Ok(feed
        .entries
        .into_iter()
        .map(|entry| {
            let title = entry.title.map(|text| text.content).unwrap_or_default();
            let summary = entry.summary.map(|text| text.content).unwrap_or_default();
            let content = entry.content.and_then(|content| content.body).unwrap_or_default();
            let link = entry.links.first().map(|link| link.href.clone());
            let mut technique_ids = extract::technique_ids(&title);
            for id in extract::technique_ids(&summary).into_iter().chain(extract::technique_ids(&content)) {
                if !technique_ids.contains(&id) {
                    technique_ids.push(id);
                }
            }
            let guid = if entry.id.is_empty() { link.clone().unwrap_or_else(|| title.clone()) } else { entry.id };
            let plain_summary = plain_text(if summary.is_empty() { &content } else { &summary });
            FeedItem {
                guid,
                title: plain_text(&title).chars().take(500).collect(),
                link,
                published: entry.published.or(entry.updated).map(crate::time::format),
                summary: plain_summary.chars().take(MAX_SUMMARY_CHARS).collect(),
                technique_ids,
            }
        })
        .collect())
}

/// The text of an HTML fragment for display: tags dropped, whitespace folded. Output is still
/// escaped wherever it is shown; this only makes summaries readable.
fn plain_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_items_with_ids() {
        let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Advisories</title>
            <item><title>Phishing wave uses T1566.001</title><link>https://example.com/a</link>
            <guid>a-1</guid><description>&lt;p&gt;Then &lt;b&gt;T1059.001&lt;/b&gt; and T12345&lt;/p&gt;</description>
            <pubDate>Fri, 04 Dec 2026 10:00:00 GMT</pubDate></item>
            <item><title>Nothing here</title><link>https://example.com/b</link></item>
            </channel></rss>"#;
        let items = parse(rss.as_bytes()).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].guid, "a-1");
        assert_eq!(items[0].technique_ids, ["T1566.001", "T1059.001"]);
        assert_eq!(items[0].summary, "Then T1059.001 and T12345");
        assert_eq!(items[0].published.as_deref(), Some("2026-12-04T10:00:00.000000Z"));
        assert!(items[1].technique_ids.is_empty());
        assert!(!items[1].guid.is_empty());
    }

    #[test]
    fn not_a_feed() {
        assert!(parse(b"<html><body>hello</body></html>").is_err());
        assert!(parse(b"<rss><channel><item><title>broken").is_err());
    }

    #[test]
    fn entities_are_not_expanded() {
        let laughs = r#"<?xml version="1.0"?>
            <!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
            <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
            <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
            <rss version="2.0"><channel><title>x</title><item><title>&lol4;</title><guid>1</guid></item></channel></rss>"#;
        if let Ok(items) = parse(laughs.as_bytes()) {
            assert!(items.iter().all(|item| item.title.len() < 1000), "no expansion");
        }
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
            <rss version="2.0"><channel><title>x</title><item><title>&xxe;</title><guid>1</guid></item></channel></rss>"#;
        if let Ok(items) = parse(xxe.as_bytes()) {
            assert!(items.iter().all(|item| !item.title.contains("root:")), "no file read");
        }
    }
}
