//! The one output discipline of every command that writes a folder (or a file).
//!
//! * Before any work: the destination must not exist, or be an empty folder;
//!   `--force` also allows replacing a folder that rollsim itself wrote (it
//!   holds the [`MARKER`] file) — never `.`, `/`, the home directory, a folder
//!   holding the working directory, or a folder rollsim did not write.
//! * The content is written into a fresh hidden sibling folder, which is
//!   renamed into place only when complete. On any failure the temporary folder
//!   is removed; on an interrupt (Ctrl-C, SIGTERM) the CLI removes it through
//!   [`remove_in_progress`]. No pre-existing file is ever touched.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file that marks a folder as rollsim's own.
pub const MARKER: &str = ".rollsim-output";

/// Why a destination cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum OutError {
    #[error("{}: already exists and is not empty; choose a new name, or pass --force to replace a folder rollsim wrote", .0.display())]
    NotEmpty(PathBuf),
    #[error("{}: already exists and is a file, not a folder; choose a new name", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: already exists; choose a new name, or pass --force to replace it", .0.display())]
    FileExists(PathBuf),
    #[error("{}: is a folder, expected a file name", .0.display())]
    FolderGiven(PathBuf),
    #[error("{}: {why}; rollsim never writes over it, even with --force; choose a new folder name", path.display())]
    Forbidden { path: PathBuf, why: &'static str },
    #[error("{}: was not written by rollsim (it has no {MARKER} file), so --force does not replace it; choose a new name", .0.display())]
    NotOurs(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<OutError> for String {
    fn from(e: OutError) -> String {
        e.to_string()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> OutError + '_ {
    move |source| OutError::Io { path: path.to_path_buf(), source }
}

/// Temporary folders and files being written, removed on an interrupt.
static IN_PROGRESS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn track(p: &Path) {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        v.push(p.to_path_buf());
    }
}

fn untrack(p: &Path) {
    if let Ok(mut v) = IN_PROGRESS.lock() {
        v.retain(|x| x != p);
    }
}

/// Removes every temporary folder or file still being written (for the
/// interrupt handler). They are rollsim's own, created fresh by this process.
pub fn remove_in_progress() {
    if let Ok(v) = IN_PROGRESS.lock() {
        for p in v.iter() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// True when `dir` holds rollsim's marker file.
pub fn is_ours(dir: &Path) -> bool {
    dir.join(MARKER).is_file()
}

/// Places rollsim never writes over: `/`, the home directory, the working
/// directory and every folder that holds it.
fn forbidden(dir: &Path) -> Option<&'static str> {
    let canon = std::fs::canonicalize(dir).ok()?;
    if canon.parent().is_none() {
        return Some("is the root folder");
    }
    if let Some(home) = std::env::var_os("HOME").and_then(|h| std::fs::canonicalize(h).ok()) {
        if canon == home {
            return Some("is the home folder");
        }
    }
    if let Ok(cwd) = std::env::current_dir().and_then(std::fs::canonicalize) {
        if cwd.starts_with(&canon) {
            return Some("is the working folder or holds it");
        }
    }
    None
}

/// A destination folder, checked before any work.
#[derive(Debug, Clone)]
pub struct OutDir {
    dir: PathBuf,
    /// Replace a folder rollsim wrote.
    replace: bool,
}

impl OutDir {
    /// Checks that `dir` may be written: it does not exist, is an empty folder,
    /// or (with `force`) is a folder rollsim wrote.
    pub fn check(dir: &Path, force: bool) -> Result<OutDir, OutError> {
        let meta = match std::fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(OutDir { dir: dir.to_path_buf(), replace: false });
            }
            Err(e) => return Err(io(dir)(e)),
            Ok(m) => m,
        };
        if let Some(why) = forbidden(dir) {
            return Err(OutError::Forbidden { path: dir.to_path_buf(), why });
        }
        if !meta.is_dir() {
            return Err(OutError::NotAFolder(dir.to_path_buf()));
        }
        let empty = std::fs::read_dir(dir).map_err(io(dir))?.next().is_none();
        if empty {
            return Ok(OutDir { dir: dir.to_path_buf(), replace: false });
        }
        if !force {
            return Err(OutError::NotEmpty(dir.to_path_buf()));
        }
        if !is_ours(dir) {
            return Err(OutError::NotOurs(dir.to_path_buf()));
        }
        Ok(OutDir { dir: dir.to_path_buf(), replace: true })
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes the folder: `fill` writes into a fresh temporary sibling, which
    /// gets the marker and is renamed into place. On failure nothing remains.
    pub fn write<E: From<OutError>>(&self, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
        let parent = parent_of(&self.dir);
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let name = self.dir.file_name().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let tmp = fresh(&parent, &name, "partial", true)?;
        let result = fill(&tmp).and_then(|()| {
            let marker = tmp.join(MARKER);
            std::fs::write(&marker, format!("written by rollsim {}\n", env!("CARGO_PKG_VERSION")))
                .map_err(io(&marker))?;
            self.put_in_place(&tmp, &parent, &name).map_err(E::from)
        });
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        untrack(&tmp);
        result
    }

    fn put_in_place(&self, tmp: &Path, parent: &Path, name: &str) -> Result<(), OutError> {
        // Checked again: the destination may have changed while we worked.
        let now = OutDir::check(&self.dir, self.replace)?;
        if now.replace {
            // Move rollsim's old folder aside, put the new one in place, then delete the old one.
            let old = fresh(parent, name, "replaced", false)?;
            std::fs::rename(&self.dir, &old).map_err(io(&self.dir))?;
            if let Err(e) = std::fs::rename(tmp, &self.dir) {
                let _ = std::fs::rename(&old, &self.dir);
                return Err(io(&self.dir)(e));
            }
            let _ = std::fs::remove_dir_all(&old);
            Ok(())
        } else {
            // Renaming onto an empty folder replaces it; onto a missing one creates it.
            std::fs::rename(tmp, &self.dir).map_err(io(&self.dir))
        }
    }
}

/// A default output folder (`reports/...-<UTC second>`) that does not exist
/// yet: `dir`, or `dir-2`, `dir-3`... when runs started within the same second
/// (a script's quick runs), so that no default ever meets an existing folder.
pub fn unused_dir(dir: PathBuf) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut candidate = dir.clone();
    let mut n = 2;
    while candidate.symlink_metadata().is_ok() {
        candidate = dir.with_file_name(format!("{name}-{n}"));
        n += 1;
    }
    candidate
}

/// The folder `path` lives in (`.` for a bare name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A name `.NAME.KIND-PID-N` next to the destination that does not exist yet;
/// created as a folder when `create`.
fn fresh(parent: &Path, name: &str, kind: &str, create: bool) -> Result<PathBuf, OutError> {
    for n in 0..1000u32 {
        let p = parent.join(format!(".{name}.{kind}-{}-{n}", std::process::id()));
        if create {
            match std::fs::create_dir(&p) {
                Ok(()) => {
                    track(&p);
                    return Ok(p);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io(&p)(e)),
            }
        } else if std::fs::symlink_metadata(&p).is_err() {
            return Ok(p);
        }
    }
    Err(OutError::Io { path: parent.join(format!(".{name}.{kind}")), source: std::io::ErrorKind::AlreadyExists.into() })
}

/// A destination file (for `rollsim record`), checked before any work: it must
/// not exist, unless `force`.
#[derive(Debug, Clone)]
pub struct OutFile {
    path: PathBuf,
}

impl OutFile {
    pub fn check(path: &Path, force: bool) -> Result<OutFile, OutError> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(OutFile { path: path.to_path_buf() }),
            Err(e) => Err(io(path)(e)),
            Ok(m) if m.is_dir() => Err(OutError::FolderGiven(path.to_path_buf())),
            Ok(_) if force => Ok(OutFile { path: path.to_path_buf() }),
            Ok(_) => Err(OutError::FileExists(path.to_path_buf())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes through a temporary sibling file renamed into place when complete.
    pub fn write<E: From<OutError>>(&self, fill: impl FnOnce(&Path) -> Result<(), E>) -> Result<(), E> {
        let parent = parent_of(&self.path);
        let stem = self.path.file_stem().map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
        let ext = self.path.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        // Keep the extension: writers pick the format by it.
        let tmp = (0..1000u32)
            .map(|n| parent.join(format!(".{stem}.partial-{}-{n}{ext}", std::process::id())))
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .ok_or_else(|| OutError::Io {
                path: self.path.clone(),
                source: std::io::ErrorKind::AlreadyExists.into(),
            })?;
        track(&tmp);
        let result = fill(&tmp).and_then(|()| std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path)(e).into()));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        untrack(&tmp);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_written_whole_and_only_over_rollsim_folders() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("report");
        let out = OutDir::check(&dir, false).unwrap();
        out.write(|t| std::fs::write(t.join("a.txt"), "1").map_err(|e| e.to_string())).unwrap();
        assert!(dir.join("a.txt").is_file() && is_ours(&dir));
        // Not empty: refused without --force, replaced with it (it is rollsim's).
        assert!(matches!(OutDir::check(&dir, false), Err(OutError::NotEmpty(_))));
        let out = OutDir::check(&dir, true).unwrap();
        out.write(|t| std::fs::write(t.join("b.txt"), "2").map_err(|e| e.to_string())).unwrap();
        assert!(dir.join("b.txt").is_file() && !dir.join("a.txt").exists());
        // A user's folder is never replaced.
        let user = root.path().join("mine");
        std::fs::create_dir(&user).unwrap();
        std::fs::write(user.join("notes.txt"), "keep").unwrap();
        assert!(matches!(OutDir::check(&user, false), Err(OutError::NotEmpty(_))));
        assert!(matches!(OutDir::check(&user, true), Err(OutError::NotOurs(_))));
        // A failing writer leaves nothing behind.
        let failed = root.path().join("failed");
        let r: Result<(), String> = OutDir::check(&failed, false).unwrap().write(|t| {
            std::fs::write(t.join("half.txt"), "x").unwrap();
            Err("boom".into())
        });
        assert_eq!(r.unwrap_err(), "boom");
        let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "only report/ and mine/ remain: {left:?}");
        assert_eq!(std::fs::read_to_string(user.join("notes.txt")).unwrap(), "keep");
        // A file is not a folder; the root never is a destination.
        assert!(matches!(OutDir::check(&user.join("notes.txt"), true), Err(OutError::NotAFolder(_))));
        assert!(matches!(OutDir::check(Path::new("/"), true), Err(OutError::Forbidden { .. })));
    }

    #[test]
    fn files_are_not_overwritten_without_force() {
        let root = tempfile::tempdir().unwrap();
        let f = root.path().join("x.csv");
        std::fs::write(&f, "user data").unwrap();
        assert!(matches!(OutFile::check(&f, false), Err(OutError::FileExists(_))));
        assert!(matches!(OutFile::check(root.path(), true), Err(OutError::FolderGiven(_))));
        let out = OutFile::check(&f, true).unwrap();
        out.write(|t| {
            assert_eq!(t.extension().unwrap(), "csv");
            std::fs::write(t, "new").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "new");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_default_folder_never_meets_an_existing_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("20261202-053605Z-s1-n5");
        assert_eq!(unused_dir(dir.clone()), dir);
        // Runs that started within the same second: the next free suffix,
        // whether what is there is a report, an empty folder or a file.
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("summary.json"), "{}").unwrap();
        std::fs::create_dir(tmp.path().join("20261202-053605Z-s1-n5-2")).unwrap();
        std::fs::write(tmp.path().join("20261202-053605Z-s1-n5-3"), "mine").unwrap();
        assert_eq!(unused_dir(dir), tmp.path().join("20261202-053605Z-s1-n5-4"));
    }
}
