//! Files a user names in the settings (secrets, the config file, the CA bundle, the dead-letter
//! file): what kind of thing a path is, said in words, and reading one only when it is a regular
//! file of a sane size, so `/dev/zero`, a FIFO or a huge file cannot hang the run or fill memory.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read};
use std::path::Path;

/// What a path that is not a regular file is, for a message: "a folder", "a FIFO", ...
pub fn kind(meta: &Metadata) -> &'static str {
    use rustix::fs::FileType;
    use std::os::unix::fs::MetadataExt;
    match FileType::from_raw_mode(meta.mode()) {
        FileType::Directory => "a folder",
        FileType::RegularFile => "a regular file",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Socket => "a socket",
        _ => "not a regular file",
    }
}

/// Why a file could not be read, in words for a settings error (the caller names the setting).
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    /// The path names something else: a device, a FIFO, a folder.
    NotAFile(&'static str),
    /// Larger than the cap: the size found.
    TooLarge(u64),
    Io(ErrorKind, String),
}

/// The text of a regular file of at most `cap` bytes, checked before the open (a FIFO would
/// wait) and after (the path may be swapped); at most `cap + 1` bytes are read.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>, Unreadable> {
    let io = |e: std::io::Error| Unreadable::Io(e.kind(), e.to_string());
    let checked = |meta: Metadata| match meta.len() {
        _ if !meta.is_file() => Err(Unreadable::NotAFile(kind(&meta))),
        size if size > cap => Err(Unreadable::TooLarge(size)),
        _ => Ok(()),
    };
    checked(std::fs::metadata(path).map_err(io)?)?;
    let file = open_no_block(path).map_err(io)?;
    checked(file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(Unreadable::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Opens for reading without waiting, should a FIFO have replaced the file checked.
pub fn open_no_block(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let nonblock = rustix::fs::OFlags::NONBLOCK.bits() as i32;
    File::options().read(true).custom_flags(nonblock).open(path)
}

/// The most a file holding one secret (`*_FILE`) may hold.
pub const SECRET_CAP: u64 = 16 * 1024;
/// The most the `--config` file may hold.
pub const CONFIG_CAP: u64 = 1024 * 1024;
/// The most a `CA_CERT` bundle may hold (a whole public bundle is about 200 KiB).
pub const CA_CERT_CAP: u64 = 4 * 1024 * 1024;

/// The bytes of the file setting `name` names ([`read_capped`]); any problem is a settings
/// error (exit 2) naming both, and for a permission error whose the file is and the fix.
pub fn read_setting(name: &str, path: &Path, cap: u64) -> anyhow::Result<Vec<u8>> {
    read_capped(path, cap).map_err(|e| {
        let why = match e {
            Unreadable::NotAFile(kind) => format!("{kind}, not a regular file; give a file"),
            Unreadable::TooLarge(size) => {
                let (size, cap) = (size_words(size), size_words(cap));
                format!("{size} is more than such a file may hold ({cap}); is it the right file?")
            }
            Unreadable::Io(ErrorKind::NotFound, _) => "no such file".to_string(),
            Unreadable::Io(ErrorKind::PermissionDenied, _) => crate::owner::cannot_read(path),
            Unreadable::Io(_, message) => message,
        };
        crate::exit::settings(format!("{name} {}: {why}", path.display()))
    })
}

/// A size in words: `1.0 GiB`, `3.5 MiB`, `12 KiB`, `100 bytes`.
pub fn size_words(bytes: u64) -> String {
    const KIB: u64 = 1024;
    match bytes {
        b if b >= KIB * KIB * KIB => format!("{:.1} GiB", b as f64 / (KIB * KIB * KIB) as f64),
        b if b >= KIB * KIB => format!("{:.1} MiB", b as f64 / (KIB * KIB) as f64),
        b if b >= KIB => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_within_the_cap_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("secret");
        std::fs::write(&small, "s3cret\n").unwrap();
        assert_eq!(read_capped(&small, 7).unwrap(), b"s3cret\n");
        assert_eq!(read_capped(&small, 6), Err(Unreadable::TooLarge(7)));
        assert_eq!(
            read_capped(dir.path(), 100),
            Err(Unreadable::NotAFile("a folder"))
        );
        assert!(matches!(
            read_capped(&dir.path().join("none"), 100),
            Err(Unreadable::Io(ErrorKind::NotFound, _))
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn devices_are_named_not_read() {
        assert_eq!(
            read_capped(Path::new("/dev/zero"), 100),
            Err(Unreadable::NotAFile("a character device"))
        );
    }

    #[test]
    fn sizes_read_as_words() {
        assert_eq!(size_words(100), "100 bytes");
        assert_eq!(size_words(12 * 1024 + 5), "12 KiB");
        assert_eq!(size_words(1 << 30), "1.0 GiB");
    }
}
