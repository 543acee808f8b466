//! The HTTP server a builder runs for its machine (`http_directory`): installers fetch their
//! preseed or kickstart files from it. GET and HEAD of the files under one directory, as Go's
//! file server answers them (a directory serves its `index.html`, or a listing); nothing
//! outside the directory is reachable. One request per connection.

use std::path::{Component, Path, PathBuf};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running server; stopped when dropped.
pub struct HttpServer {
    /// The port it listens on.
    pub port: u16,
    stop: CancellationToken,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl HttpServer {
    /// Serves `dir` on `listener` until dropped.
    pub fn start(listener: std::net::TcpListener, dir: PathBuf) -> std::io::Result<HttpServer> {
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = TcpListener::from_std(listener)?;
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                let conn = tokio::select! {
                    c = listener.accept() => c,
                    _ = stopped.cancelled() => return,
                };
                let Ok((stream, peer)) = conn else { continue };
                let dir = dir.clone();
                let stopped = stopped.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        r = serve(stream, &dir) => if let Err(e) = r {
                            kiln_core::log::log(format_args!("[WARN] http server: {peer}: {e}"));
                        },
                        _ = stopped.cancelled() => {}
                    }
                });
            }
        });
        Ok(HttpServer { port, stop })
    }
}

/// Answers one request.
async fn serve(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut request = String::new();
    reader.read_line(&mut request).await?;
    // The headers: read and ignored.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 || line.trim().is_empty() {
            break;
        }
    }
    let mut stream = reader.into_inner();
    let mut words = request.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    kiln_core::log::log(format_args!("[INFO] http server: {method} {target}"));
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"405 method not allowed\n",
            true,
        )
        .await;
    }
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let Some(file) = resolve(dir, &percent_decode(path)) else {
        return not_found(&mut stream).await;
    };
    let head_only = method == "HEAD";
    let body = match tokio::fs::metadata(&file).await {
        Ok(m) if m.is_dir() => {
            if !path.ends_with('/') {
                let moved = format!("HTTP/1.1 301 Moved Permanently\r\nLocation: {path}/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                return stream.write_all(moved.as_bytes()).await;
            }
            match tokio::fs::read(file.join("index.html")).await {
                Ok(b) => {
                    return respond(
                        &mut stream,
                        "200 OK",
                        "text/html; charset=utf-8",
                        &b,
                        head_only,
                    )
                    .await
                }
                Err(_) => listing(&file).await?,
            }
        }
        Ok(_) => match tokio::fs::read(&file).await {
            Ok(b) => b,
            Err(_) => return not_found(&mut stream).await,
        },
        Err(_) => return not_found(&mut stream).await,
    };
    let kind = if file.is_dir() {
        "text/html; charset=utf-8"
    } else {
        content_type(&file)
    };
    respond(&mut stream, "200 OK", kind, &body, head_only).await
}

async fn not_found(stream: &mut TcpStream) -> std::io::Result<()> {
    respond(
        stream,
        "404 Not Found",
        "text/plain; charset=utf-8",
        b"404 page not found\n",
        false,
    )
    .await
}

async fn respond(
    stream: &mut TcpStream,
    status: &str,
    kind: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if !head_only {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

/// The file under `dir` that the URL path names; None for a path that would leave it.
fn resolve(dir: &Path, path: &str) -> Option<PathBuf> {
    let mut out = dir.to_path_buf();
    for c in Path::new(path.trim_start_matches('/')).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(out)
}

/// `%XX` escapes decoded (an invalid one is kept as it stands).
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A directory's entries as links, as Go's file server lists them.
async fn listing(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut names = vec![];
    let mut entries = tokio::fs::read_dir(dir).await?;
    while let Some(e) = entries.next_entry().await? {
        let mut name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().await.map(|t| t.is_dir()).unwrap_or(false) {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    let mut html = String::from("<pre>\n");
    for n in names {
        let shown = n
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        html.push_str(&format!(
            "<a href=\"{}\">{shown}</a>\n",
            shown.replace('"', "&quot;")
        ));
    }
    html.push_str("</pre>\n");
    Ok(html.into_bytes())
}

/// The content type of a file, from its extension (what installers fetch is mostly text).
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "cfg" | "ks" | "seed" | "preseed" | "sh" | "conf" => "text/plain; charset=utf-8",
        "json" => "application/json",
        "xml" => "text/xml; charset=utf-8",
        "yaml" | "yml" => "application/yaml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(port: u16, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut s, &mut out)
            .await
            .unwrap();
        out
    }

    #[tokio::test]
    async fn serves_files_and_listings_and_nothing_outside_its_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("http");
        std::fs::create_dir_all(dir.join("sub dir")).unwrap();
        std::fs::write(dir.join("preseed.cfg"), "d-i foo\n").unwrap();
        std::fs::write(dir.join("sub dir/ks.cfg"), "ks\n").unwrap();
        std::fs::write(root.path().join("secret"), "no\n").unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = HttpServer::start(l, dir.clone()).unwrap();
        let p = server.port;
        let r = get(p, "GET /preseed.cfg HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(
            r.contains("Content-Length: 8\r\n") && r.ends_with("\r\n\r\nd-i foo\n"),
            "{r}"
        );
        let r = get(p, "GET /sub%20dir/ks.cfg?x=1 HTTP/1.1\r\n\r\n").await;
        assert!(r.ends_with("\r\n\r\nks\n"), "{r}");
        let r = get(p, "HEAD /preseed.cfg HTTP/1.1\r\n\r\n").await;
        assert!(
            r.contains("Content-Length: 8\r\n") && r.ends_with("\r\n\r\n"),
            "{r}"
        );
        let r = get(p, "GET / HTTP/1.1\r\n\r\n").await;
        assert!(r.contains("<a href=\"preseed.cfg\">preseed.cfg</a>"), "{r}");
        assert!(r.contains("<a href=\"sub dir/\">sub dir/</a>"), "{r}");
        let r = get(p, "GET /sub%20dir HTTP/1.1\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 301") && r.contains("Location: /sub%20dir/\r\n"),
            "{r}"
        );
        for outside in ["/../secret", "/%2e%2e/secret", "/sub%20dir/../../secret"] {
            let r = get(p, &format!("GET {outside} HTTP/1.1\r\n\r\n")).await;
            assert!(r.starts_with("HTTP/1.1 404"), "{outside}: {r}");
        }
        let r = get(p, "DELETE /preseed.cfg HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        drop(server);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(
            TcpStream::connect(("127.0.0.1", p)).await.is_err(),
            "still listening"
        );
    }
}
