//! The types vocabulary: what a file is by its bytes, named as `ALLOWED_TYPES` names it. A
//! [`TrueType`] is a name (`png`, `docx`, `elf`…) and its [`Group`] (`image`, `document`,
//! `executable`…). The names users may write are those of [`TYPES`]; a type the bytes show that
//! [`TYPES`] does not list (one of the many `infer` knows) still has a group, by which a policy
//! can allow it.

/// What a type is for, as policies group types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::VariantArray)]
pub enum Group {
    /// Pictures.
    Image,
    /// Office and PDF documents, e-books.
    Document,
    /// Sound.
    Audio,
    /// Moving pictures.
    Video,
    /// Archives, compressed streams, disk images and installers' containers.
    Archive,
    /// Mail messages and mailboxes.
    Mail,
    /// Programs: PE, ELF, Mach-O, Java, Android and WebAssembly code, Windows installers.
    Executable,
    /// What runs commands when opened: shell scripts, PHP, Windows shortcuts.
    Script,
    /// Web pages.
    Web,
    /// Plain text (UTF-8 or ASCII).
    Text,
    /// Fonts.
    Font,
    /// No bytes at all.
    Empty,
    /// Bytes of no type known.
    Other,
}

impl Group {
    /// Every group, in the order the docs list them.
    pub const ALL: &'static [Group] = <Group as strum::VariantArray>::VARIANTS;

    /// The group's name in `ALLOWED_TYPES`.
    pub fn name(self) -> &'static str {
        match self {
            Group::Image => "image",
            Group::Document => "document",
            Group::Audio => "audio",
            Group::Video => "video",
            Group::Archive => "archive",
            Group::Mail => "mail",
            Group::Executable => "executable",
            Group::Script => "script",
            Group::Web => "web",
            Group::Text => "text",
            Group::Font => "font",
            Group::Empty => "empty",
            Group::Other => "other",
        }
    }

    /// The group named `name` (lower case), if any.
    pub fn named(name: &str) -> Option<Group> {
        Group::ALL.iter().copied().find(|g| g.name() == name)
    }

    /// True for groups whose members are files someone put there (an archive's, a mail's
    /// attachments), not a document's or a program's own parts.
    pub fn holds_files(self) -> bool {
        matches!(self, Group::Archive | Group::Mail)
    }

    /// True for what runs code by being opened: programs and scripts.
    pub fn runs(self) -> bool {
        matches!(self, Group::Executable | Group::Script)
    }
}

/// A type by its bytes: its name and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrueType {
    /// The name (`png`, `docx`, `elf`), as [`TYPES`] or `infer` names it.
    pub name: &'static str,
    /// Its group.
    pub group: Group,
}

impl Default for TrueType {
    fn default() -> TrueType {
        TrueType {
            name: "empty",
            group: Group::Empty,
        }
    }
}

/// The type names users may write in `ALLOWED_TYPES`, each with its group.
pub const TYPES: &[TrueType] = &{
    use Group::*;
    const fn t(name: &'static str, group: Group) -> TrueType {
        TrueType { name, group }
    }
    [
        t("jpg", Image),
        t("png", Image),
        t("gif", Image),
        t("webp", Image),
        t("bmp", Image),
        t("tif", Image),
        t("ico", Image),
        t("heif", Image),
        t("avif", Image),
        t("jxl", Image),
        t("psd", Image),
        t("pdf", Document),
        t("doc", Document),
        t("xls", Document),
        t("ppt", Document),
        t("docx", Document),
        t("xlsx", Document),
        t("pptx", Document),
        t("ooxml", Document),
        t("odt", Document),
        t("ods", Document),
        t("odp", Document),
        t("rtf", Document),
        t("epub", Document),
        t("one", Document),
        t("chm", Document),
        t("ole", Document),
        t("mp3", Audio),
        t("wav", Audio),
        t("ogg", Audio),
        t("flac", Audio),
        t("m4a", Audio),
        t("mp4", Video),
        t("mkv", Video),
        t("webm", Video),
        t("avi", Video),
        t("mov", Video),
        t("zip", Archive),
        t("rar", Archive),
        t("7z", Archive),
        t("tar", Archive),
        t("gz", Archive),
        t("bz2", Archive),
        t("xz", Archive),
        t("zst", Archive),
        t("cab", Archive),
        t("cpio", Archive),
        t("iso", Archive),
        t("arj", Archive),
        t("lzh", Archive),
        t("sis", Archive),
        t("eml", Mail),
        t("tnef", Mail),
        t("exe", Executable),
        t("elf", Executable),
        t("macho", Executable),
        t("msi", Executable),
        t("class", Executable),
        t("dex", Executable),
        t("wasm", Executable),
        t("sh", Script),
        t("php", Script),
        t("lnk", Script),
        t("html", Web),
        t("text", Text),
        t("ttf", Font),
        t("otf", Font),
        t("woff", Font),
        t("woff2", Font),
        t("empty", Empty),
        t("other", Other),
    ]
};

/// The type named `name` in [`TYPES`], if any.
pub fn named(name: &str) -> Option<TrueType> {
    TYPES.iter().copied().find(|t| t.name == name)
}

/// The type named `name`, which detection gives; `other` should TYPES lack it.
pub(crate) fn known(name: &'static str) -> TrueType {
    // Every name passed here is one of TYPES (a unit test checks them all).
    named(name).unwrap_or(TrueType {
        name,
        group: Group::Other,
    })
}

#[cfg(test)]
mod tests;
