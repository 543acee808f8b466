//! A 1.44 MB FAT12 floppy image holding `floppy_files` and `floppy_dirs`, as Packer makes it:
//! the files of `floppy_files` (globs expanded; a directory's files, found recursively) at the
//! root, each `floppy_dirs` entry (globs expanded) at the root under its own name with its
//! tree, the volume labelled `floppy_label` (default `packer`). Names keep their case as long
//! names (VFAT), with an 8.3 short name beside each, so `Autounattend.xml` and `ks.cfg` read as
//! written on Windows and Linux. What does not fit on the floppy, or two names that differ only
//! in case in one directory, is an error that says so.
//!
//! The image is written by this module, with no tool and no mount.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const SECTOR: usize = 512;
const SECTORS: usize = 2880;
/// Bytes in the image.
pub const SIZE: usize = SECTOR * SECTORS;
const FAT_SECTORS: usize = 9;
const ROOT_ENTRIES: usize = 224;
/// Sectors before the data: the boot sector, two FATs, the root directory.
const DATA_START: usize = 1 + 2 * FAT_SECTORS + ROOT_ENTRIES * 32 / SECTOR;
/// Clusters (one sector each) for files and directories.
const CLUSTERS: usize = SECTORS - DATA_START;

/// A file or directory on the floppy.
#[derive(Debug)]
enum Node {
    File {
        name: String,
        data: Vec<u8>,
        mtime: SystemTime,
    },
    Dir {
        name: String,
        entries: Vec<Node>,
        mtime: SystemTime,
    },
}

impl Node {
    fn name(&self) -> &str {
        match self {
            Node::File { name, .. } | Node::Dir { name, .. } => name,
        }
    }
}

/// What goes on the floppy, gathered from the host.
#[derive(Debug, Default)]
pub struct Contents {
    root: Vec<Node>,
    /// Bytes of file data, for the size check.
    bytes: usize,
}

fn too_big(bytes: u64) -> String {
    format!(
        "the floppy's files take {bytes} bytes or more; a 1.44 MB floppy holds {}: put large \
         files on a CD (cd_files), the HTTP server (http_directory) or upload them with the \
         file provisioner",
        CLUSTERS * SECTOR
    )
}

/// Whether two names are one to FAT (which ignores letter case, beyond ASCII too).
fn same_name(a: &str, b: &str) -> bool {
    a.to_uppercase() == b.to_uppercase()
}

/// Refuses a name FAT's long names cannot hold (Windows could not open the file).
fn check_name(name: &str, src: &Path) -> Result<(), String> {
    match name
        .chars()
        .find(|c| "\"*/:<>?\\|".contains(*c) || c.is_control())
    {
        Some(c) => Err(format!(
            "{}: a FAT name cannot hold {c:?}; rename the file",
            src.display()
        )),
        None => Ok(()),
    }
}

/// Whether `s` holds a glob's special characters, as Packer tells them.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// One element of a glob part.
#[derive(Debug, Clone, PartialEq)]
enum Pat {
    /// A character as it is.
    Char(char),
    /// `?`
    Any,
    /// `*`
    Star,
    /// `[...]`: negated, and its ranges (a single character is a range of one).
    Class(bool, Vec<(char, char)>),
}

/// A glob part as Go's `filepath.Match` reads it (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes), or
/// why it is not one (Go's "syntax error in pattern").
fn compile(pattern: &str) -> Result<Vec<Pat>, String> {
    let bad = || format!("syntax error in pattern {pattern:?}");
    let mut out = vec![];
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(match c {
            '*' => Pat::Star,
            '?' => Pat::Any,
            '\\' => Pat::Char(chars.next().ok_or_else(bad)?),
            '[' => {
                let negate = chars.next_if_eq(&'^').is_some();
                let mut ranges = vec![];
                loop {
                    let lo = match chars.next().ok_or_else(bad)? {
                        ']' if !ranges.is_empty() => break,
                        ']' | '-' => return Err(bad()),
                        '\\' => chars.next().ok_or_else(bad)?,
                        c => c,
                    };
                    let hi = if chars.next_if_eq(&'-').is_some() {
                        match chars.next().ok_or_else(bad)? {
                            ']' | '-' => return Err(bad()),
                            '\\' => chars.next().ok_or_else(bad)?,
                            c => c,
                        }
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                Pat::Class(negate, ranges)
            }
            c => Pat::Char(c),
        });
    }
    Ok(out)
}

/// Whether a glob part is well formed (for `validate`).
pub fn check_pattern(pattern: &str) -> Result<(), String> {
    pattern.split('/').try_for_each(|p| compile(p).map(drop))
}

fn one_matches(p: &Pat, c: char) -> bool {
    match p {
        Pat::Char(x) => *x == c,
        Pat::Any => true,
        Pat::Class(negate, ranges) => ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negate,
        Pat::Star => false,
    }
}

/// One path part against a compiled glob part, in linear time: a later `*` takes over from
/// an earlier one, so nothing is tried twice.
fn part_matches(pattern: &[Pat], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(Pat::Star) => {
                star = Some((p, n));
                p += 1;
            }
            Some(x) if one_matches(x, name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|x| *x == Pat::Star)
}

/// The paths matching `pattern`, sorted, as Go's `filepath.Glob` finds them (no `**`).
pub fn glob(pattern: &str) -> Vec<PathBuf> {
    let absolute = pattern.starts_with('/');
    let mut found = vec![if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    }];
    for part in pattern.split('/').filter(|p| !p.is_empty()) {
        let mut next = vec![];
        for base in &found {
            if !is_glob(part) {
                let p = base.join(part);
                if std::fs::symlink_metadata(&p).is_ok() {
                    next.push(p);
                }
                continue;
            }
            let dir = if base.as_os_str().is_empty() {
                Path::new(".")
            } else {
                base.as_path()
            };
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            // A bad pattern matches nothing here; validate refuses it first.
            let Ok(pat) = compile(part) else { continue };
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| part_matches(&pat, &n.chars().collect::<Vec<_>>()))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| base.join(n)));
        }
        found = next;
    }
    found
}

/// `pattern`'s paths: its matches if it is a glob, else itself.
fn expand(pattern: &str) -> Vec<PathBuf> {
    if is_glob(pattern) {
        glob(pattern)
    } else {
        vec![PathBuf::from(pattern)]
    }
}

/// What `dir` holds, in name order (as Go's `filepath.Walk` visits it).
fn entries_of(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    Ok(entries)
}

/// Files under `dir`, recursively, in name order.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    for p in entries_of(dir)? {
        if p.is_dir() {
            files_under(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn base_name(p: &Path) -> String {
    // `dir/.` and `.` name the directory itself.
    let p = if p.file_name().is_none() || p.ends_with(".") {
        std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
    } else {
        p.to_path_buf()
    };
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
}

fn mtime(meta: &std::fs::Metadata) -> SystemTime {
    meta.modified().unwrap_or(UNIX_EPOCH)
}

impl Contents {
    /// Gathers `floppy_files` and `floppy_dirs` as Packer lays them out; `say` hears each
    /// file added (Packer's messages).
    pub fn gather(
        files: &[String],
        dirs: &[String],
        mut say: impl FnMut(String),
    ) -> Result<Contents, String> {
        let mut c = Contents::default();
        say("Copying files flatly from floppy_files".into());
        for pattern in files {
            for p in expand(pattern) {
                let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                if meta.is_dir() {
                    say(format!("Copying directory: {}", p.display()));
                    let mut found = vec![];
                    files_under(&p, &mut found)?;
                    for f in found {
                        say(format!("Adding file: {}", f.display()));
                        c.add_file(&[], &f)?;
                    }
                } else {
                    say(format!("Copying file: {}", p.display()));
                    c.add_file(&[], &p)?;
                }
            }
        }
        say("Done copying files from floppy_files".into());
        for pattern in dirs {
            for p in expand(pattern) {
                say(format!("Recursively copying : {}", p.display()));
                let meta = std::fs::metadata(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                if meta.is_dir() {
                    c.add_tree(&[], &p, 0)?;
                } else {
                    c.add_file(&[], &p)?;
                }
            }
        }
        say("Done copying paths from floppy_dirs".into());
        Ok(c)
    }

    /// The directory at `path` (names from the root), made as needed.
    fn dir_at(&mut self, path: &[String]) -> Result<&mut Vec<Node>, String> {
        let mut here = &mut self.root;
        let mut shown = String::new();
        for part in path {
            shown.push('/');
            shown.push_str(part);
            let i = match here.iter().position(|n| same_name(n.name(), part)) {
                Some(i) => i,
                None => {
                    here.push(Node::Dir {
                        name: part.clone(),
                        entries: vec![],
                        mtime: SystemTime::now(),
                    });
                    here.len() - 1
                }
            };
            here = match &mut here[i] {
                Node::Dir { entries, .. } => entries,
                Node::File { .. } => {
                    return Err(format!("{shown} is a file on the floppy, not a directory"))
                }
            };
        }
        Ok(here)
    }

    fn add_file(&mut self, at: &[String], src: &Path) -> Result<(), String> {
        let meta = std::fs::metadata(src).map_err(|e| format!("{}: {e}", src.display()))?;
        let name = base_name(src);
        check_name(&name, src)?;
        // Refused before it is read: a glob that matches an ISO must not fill the memory.
        let room = CLUSTERS * SECTOR;
        if self.bytes as u64 + meta.len() > room as u64 {
            return Err(too_big(self.bytes as u64 + meta.len()));
        }
        let data = std::fs::read(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
        self.bytes += data.len();
        let dir = self.dir_at(at)?;
        if dir.iter().any(|n| same_name(n.name(), &name)) {
            return Err(format!(
                "two files named {name} (FAT names ignore case) in /{} of the floppy; the second is {}",
                at.join("/"),
                src.display()
            ));
        }
        dir.push(Node::File {
            name,
            data,
            mtime: mtime(&meta),
        });
        Ok(())
    }

    fn add_tree(&mut self, at: &[String], src: &Path, depth: usize) -> Result<(), String> {
        if depth > 32 {
            return Err(format!("{}: directories nested too deep", src.display()));
        }
        let mut path = at.to_vec();
        path.push(base_name(src));
        let meta = std::fs::metadata(src).map_err(|e| format!("{}: {e}", src.display()))?;
        self.dir_at(&path)?;
        if let Some(Node::Dir { mtime: m, .. }) = self.node_mut(&path) {
            *m = mtime(&meta);
        }
        for p in entries_of(src)? {
            if p.is_dir() {
                self.add_tree(&path, &p, depth + 1)?;
            } else {
                self.add_file(&path, &p)?;
            }
        }
        Ok(())
    }

    fn node_mut(&mut self, path: &[String]) -> Option<&mut Node> {
        let (last, parents) = path.split_last()?;
        let dir = self.dir_at(parents).ok()?;
        dir.iter_mut().find(|n| same_name(n.name(), last))
    }

    /// The image, labelled `label` (`NO NAME` if it has nothing a label can hold).
    pub fn image(&self, label: &str) -> Result<Vec<u8>, String> {
        if self.bytes > CLUSTERS * SECTOR {
            return Err(too_big(self.bytes as u64));
        }
        let label = if padded(label, 11).iter().all(|b| *b == b' ') {
            "NO NAME"
        } else {
            label
        };
        let mut w = Writer {
            img: vec![0; SIZE],
            next: 2,
        };
        w.boot_sector(label);
        let root = w.directory(&self.root, None, label)?;
        if root.len() > ROOT_ENTRIES * 32 {
            return Err(format!(
                "the floppy's root directory holds {ROOT_ENTRIES} entries and these files \
                 need {} (long names take more than one): put them in floppy_dirs",
                root.len() / 32
            ));
        }
        let at = (1 + 2 * FAT_SECTORS) * SECTOR;
        w.img[at..at + root.len()].copy_from_slice(&root);
        // The second FAT is a copy of the first.
        let (fat1, rest) = w.img[SECTOR..].split_at_mut(FAT_SECTORS * SECTOR);
        rest[..FAT_SECTORS * SECTOR].copy_from_slice(fat1);
        Ok(w.img)
    }
}

struct Writer {
    img: Vec<u8>,
    /// The next free cluster.
    next: usize,
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// `text` as `len` bytes of ASCII, space padded.
fn padded(text: &str, len: usize) -> Vec<u8> {
    let mut b: Vec<u8> = text
        .bytes()
        .filter(|c| c.is_ascii_graphic() || *c == b' ')
        .take(len)
        .collect();
    b.resize(len, b' ');
    b
}

/// FAT's date and time (two-second steps, years from 1980) of `t`, in UTC.
fn fat_time(t: SystemTime) -> (u16, u16) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year < 1980 {
        return (0x21, 0); // 1980-01-01 00:00:00
    }
    let year = (year - 1980).min(127) as u16;
    let date = (year << 9) | ((month as u16) << 5) | day as u16;
    let time =
        ((rem / 3600) as u16) << 11 | (((rem / 60) % 60) as u16) << 5 | ((rem % 60) / 2) as u16;
    (date, time)
}

/// Characters a short name may hold besides letters and digits.
const SHORT_OK: &str = "!#$%&'()-@^_`{}~";

/// The 8.3 name (11 bytes, space padded) for `name` among the `used` ones, and whether the
/// name needs a long-name entry to be read back as written.
fn short_name(name: &str, used: &[[u8; 11]]) -> ([u8; 11], bool) {
    let clean = |s: &str| -> (String, bool) {
        let mut lossy = false;
        let mut out = String::new();
        for c in s.chars() {
            if c == ' ' {
                lossy = true;
            } else if c.is_ascii_alphanumeric() || SHORT_OK.contains(c) {
                out.push(c.to_ascii_uppercase());
            } else {
                lossy = true;
                out.push('_');
            }
        }
        (out, lossy)
    };
    let trimmed = name.trim_start_matches('.');
    let (stem, ext) = match trimmed.rfind('.') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (trimmed, ""),
    };
    let (stem, lossy_stem) = clean(&stem.replace('.', ""));
    let (ext, lossy_ext) = clean(ext);
    let lossy = lossy_stem || lossy_ext || trimmed.len() != name.len() || stem.is_empty();
    let fits = stem.len() <= 8 && ext.len() <= 3;
    let make = |stem: &str, ext: &str| {
        let mut b = [b' '; 11];
        b[..stem.len()].copy_from_slice(stem.as_bytes());
        b[8..8 + ext.len()].copy_from_slice(ext.as_bytes());
        b
    };
    let ext3: String = ext.chars().take(3).collect();
    if !lossy && fits {
        let b = make(&stem, &ext);
        if !used.contains(&b) {
            let shown = if ext.is_empty() {
                stem.clone()
            } else {
                format!("{stem}.{ext}")
            };
            return (b, shown != name);
        }
    }
    let stem = if stem.is_empty() {
        "_".to_string()
    } else {
        stem
    };
    for n in 1..1_000_000u32 {
        let tail = format!("~{n}");
        let keep = stem.len().min(8 - tail.len());
        let b = make(&format!("{}{tail}", &stem[..keep]), &ext3);
        if !used.contains(&b) {
            return (b, true);
        }
    }
    (make("_", ""), true)
}

fn checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &c| (sum >> 1 | (sum & 1) << 7).wrapping_add(c))
}

/// The long-name entries for `name`, in the order they are written (the last part first).
fn long_entries(name: &str, short: &[u8; 11]) -> Result<Vec<[u8; 32]>, String> {
    let units: Vec<u16> = name.encode_utf16().collect();
    if units.len() > 255 {
        return Err(format!("{name}: a FAT name has at most 255 characters"));
    }
    let sum = checksum(short);
    let parts = units.len().div_ceil(13);
    let mut out = vec![];
    for i in (0..parts).rev() {
        let mut e = [0u8; 32];
        e[0] = (i + 1) as u8 | if i + 1 == parts { 0x40 } else { 0 };
        e[11] = 0x0F;
        e[13] = sum;
        let at = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        for (k, off) in at.iter().enumerate() {
            let j = i * 13 + k;
            let u = match j.cmp(&units.len()) {
                std::cmp::Ordering::Less => units[j],
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Greater => 0xFFFF,
            };
            put16(&mut e, *off, u);
        }
        out.push(e);
    }
    Ok(out)
}

fn entry(short: &[u8; 11], attr: u8, cluster: usize, size: usize, t: SystemTime) -> [u8; 32] {
    let mut e = [0u8; 32];
    e[..11].copy_from_slice(short);
    e[11] = attr;
    let (date, time) = fat_time(t);
    for at in [14, 22] {
        put16(&mut e, at, time);
    }
    for at in [16, 18, 24] {
        put16(&mut e, at, date);
    }
    put16(&mut e, 26, cluster as u16);
    put32(&mut e, 28, size as u32);
    e
}

impl Writer {
    fn boot_sector(&mut self, label: &str) {
        let b = &mut self.img;
        b[..3].copy_from_slice(&[0xEB, 0x3C, 0x90]);
        b[3..11].copy_from_slice(&padded(label, 8));
        put16(b, 11, SECTOR as u16);
        b[13] = 1; // sectors per cluster
        put16(b, 14, 1); // reserved sectors
        b[16] = 2; // FATs
        put16(b, 17, ROOT_ENTRIES as u16);
        put16(b, 19, SECTORS as u16);
        b[21] = 0xF0; // removable media
        put16(b, 22, FAT_SECTORS as u16);
        put16(b, 24, 18); // sectors per track
        put16(b, 26, 2); // heads
        b[38] = 0x29; // the fields below are present
        let id = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as u32)
            .unwrap_or(0);
        put32(b, 39, id);
        b[43..54].copy_from_slice(&padded(label, 11));
        b[54..62].copy_from_slice(b"FAT12   ");
        // Not bootable: halt.
        b[62..65].copy_from_slice(&[0xF4, 0xEB, 0xFD]);
        b[510] = 0x55;
        b[511] = 0xAA;
        // FAT entries 0 and 1: the media byte, then end of chain.
        b[SECTOR..SECTOR + 3].copy_from_slice(&[0xF0, 0xFF, 0xFF]);
    }

    fn set_fat(&mut self, n: usize, v: u16) {
        let at = SECTOR + n * 3 / 2;
        let fat = &mut self.img;
        if n.is_multiple_of(2) {
            fat[at] = v as u8;
            fat[at + 1] = (fat[at + 1] & 0xF0) | ((v >> 8) as u8 & 0x0F);
        } else {
            fat[at] = (fat[at] & 0x0F) | ((v as u8 & 0x0F) << 4);
            fat[at + 1] = (v >> 4) as u8;
        }
    }

    /// `n` clusters in a row, chained; the first, or 0 for none.
    fn alloc(&mut self, n: usize) -> Result<usize, String> {
        if n == 0 {
            return Ok(0);
        }
        let first = self.next;
        if first + n > CLUSTERS + 2 {
            return Err(format!(
                "the floppy is full: its files and directories need more than its {} KiB",
                CLUSTERS * SECTOR / 1024
            ));
        }
        for c in first..first + n {
            self.set_fat(
                c,
                if c + 1 == first + n {
                    0xFFF
                } else {
                    c as u16 + 1
                },
            );
        }
        self.next += n;
        Ok(first)
    }

    fn write_clusters(&mut self, first: usize, data: &[u8]) {
        let at = (DATA_START + first - 2) * SECTOR;
        self.img[at..at + data.len()].copy_from_slice(data);
    }

    /// The entries of a directory; `me` is its cluster and its parent's (none for the root,
    /// which starts with the volume label instead).
    fn directory(
        &mut self,
        nodes: &[Node],
        me: Option<(usize, usize)>,
        label: &str,
    ) -> Result<Vec<u8>, String> {
        let mut out = vec![];
        let now = SystemTime::now();
        match me {
            None => {
                let mut l = [b' '; 11];
                l.copy_from_slice(&padded(label, 11));
                out.extend(entry(&l, 0x08, 0, 0, now));
            }
            Some((mine, parent)) => {
                let dot = *b".          ";
                let dotdot = *b"..         ";
                out.extend(entry(&dot, 0x10, mine, 0, now));
                out.extend(entry(&dotdot, 0x10, parent, 0, now));
            }
        }
        let mut used: Vec<[u8; 11]> = vec![];
        for node in nodes {
            let (short, long) = short_name(node.name(), &used);
            used.push(short);
            if long {
                for e in long_entries(node.name(), &short)? {
                    out.extend(e);
                }
            }
            match node {
                Node::File { data, mtime, .. } => {
                    let first = self.alloc(data.len().div_ceil(SECTOR))?;
                    if first != 0 {
                        self.write_clusters(first, data);
                    }
                    out.extend(entry(&short, 0x20, first, data.len(), *mtime));
                }
                Node::Dir { entries, mtime, .. } => {
                    let slots = 2 + entries
                        .iter()
                        .map(|n| 1 + n.name().encode_utf16().count().div_ceil(13))
                        .sum::<usize>();
                    let first = self.alloc((slots * 32).div_ceil(SECTOR))?;
                    let parent = me.map_or(0, |(mine, _)| mine);
                    let bytes = self.directory(entries, Some((first, parent)), label)?;
                    self.write_clusters(first, &bytes);
                    out.extend(entry(&short, 0x10, first, 0, *mtime));
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_go_matches() {
        let m =
            |p: &str, n: &str| part_matches(&compile(p).unwrap(), &n.chars().collect::<Vec<_>>());
        assert!(m("*.xml", "Autounattend.xml"));
        assert!(!m("*.xml", "a.txt"));
        assert!(m("ks?.cfg", "ks1.cfg"));
        assert!(m("[a-c]x", "bx") && !m("[a-c]x", "dx"));
        assert!(m("[^a-c]x", "dx") && !m("[^a-c]x", "ax"));
        assert!(m("a\\*", "a*") && !m("a\\*", "ab"));
        assert!(m("*a*b", "xxaxxb") && !m("*a*b", "xxaxxbx"));
        assert!(m("*", "") && m("**", "x") && !m("?", ""));
        // Go's syntax errors.
        for bad in ["[ab", "[]a]", "[-a]", "[a-]", "a\\", "[^]"] {
            assert!(compile(bad).is_err(), "{bad}");
        }
        // Many stars against a long name that does not match (exponential if each star
        // retried every split).
        assert!(!m("*a*a*a*a*a*a*a*a*a*a*b", &"a".repeat(300)));
    }

    #[test]
    fn short_names_follow_the_8_3_rules() {
        let s = |n: &str, used: &[[u8; 11]]| {
            let (b, long) = short_name(n, used);
            (String::from_utf8(b.to_vec()).unwrap(), long)
        };
        assert_eq!(s("KS.CFG", &[]), ("KS      CFG".into(), false));
        assert_eq!(s("ks.cfg", &[]), ("KS      CFG".into(), true));
        assert_eq!(s("Autounattend.xml", &[]), ("AUTOUN~1XML".into(), true));
        let used = [*b"AUTOUN~1XML"];
        assert_eq!(s("autounattend.xml.bak", &used).0, "AUTOUN~1BAK");
        assert_eq!(s("Autounattend2.xml", &used).0, "AUTOUN~2XML");
        assert_eq!(s("my file+.sh", &[]).0, "MYFILE~1SH ");
        assert_eq!(s(".hidden", &[]).0, "HIDDEN~1   ");
    }

    #[test]
    fn the_checksum_is_fats() {
        // The checksum FAT's specification gives for the name "FILENAMEEXT" folds each byte
        // after rotating the sum right by one.
        let mut sum = 0u8;
        for &c in b"FILENAMEEXT" {
            sum = sum.rotate_right(1).wrapping_add(c);
        }
        assert_eq!(checksum(b"FILENAMEEXT"), sum);
    }

    #[test]
    fn fat_dates_count_from_1980() {
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_764_763_199); // 2025-12-03 11:59:59
        let (date, time) = fat_time(t);
        assert_eq!((date >> 9, (date >> 5) & 15, date & 31), (45, 12, 3));
        assert_eq!(
            (time >> 11, (time >> 5) & 63, (time & 31) * 2),
            (11, 59, 58)
        );
        assert_eq!(fat_time(UNIX_EPOCH), (0x21, 0));
    }

    fn tool(args: &[&str], img: &Path) -> String {
        let (cmd, rest) = args.split_first().unwrap();
        let mut c = std::process::Command::new(cmd);
        c.args(rest);
        if *cmd != "fsck.fat" {
            c.arg("-i").arg(img);
        }
        let o = c
            .env("MTOOLS_SKIP_CHECK", "1")
            .output()
            .unwrap_or_else(|e| panic!("{cmd} (dosfstools, mtools): {e}"));
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {text}");
        text
    }

    /// The image read back by dosfstools' checker and by mtools, which share no code with
    /// this module.
    #[test]
    fn fsck_and_mtools_read_back_what_was_written() {
        let d = tempfile::tempdir().unwrap();
        let w = |p: &str, text: &[u8]| {
            let p = d.path().join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        };
        w("Autounattend.xml", b"<unattend/>\n");
        w("ks.cfg", b"text\nreboot\n");
        w("empty", b"");
        w("flat/one.txt", b"1");
        w("flat/deeper/two.txt", b"2");
        w("drivers/NetKVM/w10/amd64/netkvm.inf", b"[Version]\n");
        w(
            "drivers/viostor/a very long file name for a driver.sys",
            &[0xAB; 3000],
        );
        let many: Vec<String> = (0..40).map(|i| format!("file-number-{i}.txt")).collect();
        for n in &many {
            w(&format!("many/{n}"), n.as_bytes());
        }
        let at = |p: &str| d.path().join(p).display().to_string();
        let files = [at("*.xml"), at("ks.cfg"), at("empty"), at("flat")];
        let dirs = [at("drivers"), at("man[y]")];
        let mut said = vec![];
        let c = Contents::gather(&files, &dirs, |m| said.push(m)).unwrap();
        assert!(
            said.contains(&format!("Copying directory: {}", at("flat"))),
            "{said:?}"
        );
        let img = d.path().join("floppy.img");
        std::fs::write(&img, c.image("KILNTEST").unwrap()).unwrap();
        assert_eq!(std::fs::metadata(&img).unwrap().len(), 1_474_560);

        let fsck = tool(&["fsck.fat", "-n", "-v", img.to_str().unwrap()], &img);
        assert!(
            fsck.contains("1474560 bytes") || fsck.contains("2880"),
            "{fsck}"
        );
        assert!(!fsck.contains("differ") && !fsck.contains("Fix?"), "{fsck}");
        assert!(tool(&["mlabel", "-s", "::"], &img).contains("KILNTEST"));
        // Long names as written; floppy_files flat at the root, floppy_dirs with their trees.
        let listing = tool(&["mdir", "-/", "-b", "::"], &img);
        let mut names: Vec<&str> = listing
            .lines()
            .map(|l| l.trim_start_matches("::/"))
            .collect();
        names.sort();
        let mut want = vec![
            "Autounattend.xml",
            "drivers/",
            "drivers/NetKVM/",
            "drivers/NetKVM/w10/",
            "drivers/NetKVM/w10/amd64/",
            "drivers/NetKVM/w10/amd64/netkvm.inf",
            "drivers/viostor/",
            "drivers/viostor/a very long file name for a driver.sys",
            "empty",
            "ks.cfg",
            "many/",
            "one.txt",
            "two.txt",
        ];
        let many_names: Vec<String> = many.iter().map(|n| format!("many/{n}")).collect();
        want.extend(many_names.iter().map(String::as_str));
        want.sort();
        assert_eq!(names, want, "{listing}");
        for (path, text) in [
            ("::/ks.cfg", "text\nreboot\n"),
            ("::/Autounattend.xml", "<unattend/>\n"),
            ("::/two.txt", "2"),
            ("::/drivers/NetKVM/w10/amd64/netkvm.inf", "[Version]\n"),
            ("::/many/file-number-39.txt", "file-number-39.txt"),
            ("::/empty", ""),
        ] {
            assert_eq!(tool(&["mtype", path], &img), text, "{path}");
        }
        let big = std::process::Command::new("mtype")
            .arg("-i")
            .arg(&img)
            .arg("::/drivers/viostor/a very long file name for a driver.sys")
            .output()
            .unwrap();
        assert!(big.status.success());
        assert_eq!(big.stdout, vec![0xAB; 3000]);
    }

    #[test]
    fn too_much_is_refused_with_what_it_takes() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.bin");
        std::fs::write(&big, vec![7u8; SIZE]).unwrap();
        // Refused before it is read.
        let e = Contents::gather(&[big.display().to_string()], &[], |_| {}).unwrap_err();
        assert!(
            e.contains("1474560 bytes") && e.contains("holds 1457664"),
            "{e}"
        );
        let one = |name: &str| {
            Contents::gather(&[dir.path().join(name).display().to_string()], &[], |_| {})
        };
        std::fs::write(dir.path().join("what?.txt"), "q").unwrap();
        let e = one("what[?].txt").unwrap_err();
        assert!(e.contains("a FAT name cannot hold '?'"), "{e}");
        std::fs::write(dir.path().join("Über.txt"), "1").unwrap();
        std::fs::write(dir.path().join("über.txt"), "2").unwrap();
        let e = one("*ber.txt").unwrap_err();
        assert!(e.contains("two files named"), "{e}");
        // Two names one letter-case apart cannot share a FAT directory.
        std::fs::write(dir.path().join("A.txt"), "1").unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a.TXT"), "2").unwrap();
        let files = [
            dir.path().join("A.txt").display().to_string(),
            dir.path().join("d").display().to_string(),
        ];
        let e = Contents::gather(&files, &[], |_| {}).unwrap_err();
        assert!(e.contains("two files named a.TXT"), "{e}");
    }
}
