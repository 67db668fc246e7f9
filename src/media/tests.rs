use super::*;
use std::time::Duration;

fn id(s: &str) -> FileIdentity {
    FileIdentity::of(&[s])
}

#[test]
fn a_changed_file_gets_a_new_key_and_the_old_thumbnail_is_not_served_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ThumbCache::open(dir.path(), 1 << 20).unwrap();
    let (old, new) = (id("sha1:aaa"), id("sha1:bbb"));
    assert_ne!(old, new);
    cache
        .put(7, &old, ThumbSize::Small, b"old picture")
        .unwrap();
    assert_eq!(
        cache.get(7, &old, ThumbSize::Small).unwrap(),
        b"old picture"
    );
    assert_eq!(cache.get(7, &new, ThumbSize::Small), None);
    assert_eq!(cache.get(7, &old, ThumbSize::Medium), None);
    assert!(!cache.has(7, &old), "only one of the two sizes is there");
    cache.put(7, &old, ThumbSize::Medium, b"m").unwrap();
    assert!(cache.has(7, &old));
    assert!(!cache.has(8, &old), "another asset");
}

#[test]
fn the_least_recently_used_go_first_when_the_bound_is_passed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ThumbCache::open(dir.path(), 250).unwrap();
    let file = id("x");
    let at = |n: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + n);
    for asset in 1..=2 {
        cache
            .put(asset, &file, ThumbSize::Small, &[0u8; 100])
            .unwrap();
        let f = std::fs::File::options()
            .append(true)
            .open(cache.path(asset, &file, ThumbSize::Small))
            .unwrap();
        f.set_modified(at(asset as u64)).unwrap();
    }
    // Asset 1 is read: now the most recently used.
    assert!(cache.get(1, &file, ThumbSize::Small).is_some());
    cache.put(3, &file, ThumbSize::Small, &[0u8; 100]).unwrap();
    assert!(cache.total_bytes() <= 250, "{}", cache.total_bytes());
    assert!(
        cache.get(2, &file, ThumbSize::Small).is_none(),
        "2 was least recently used"
    );
    assert!(cache.get(1, &file, ThumbSize::Small).is_some());
    assert!(cache.get(3, &file, ThumbSize::Small).is_some());
}

#[test]
fn writes_are_atomic_and_leftover_temporary_files_are_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ThumbCache::open(dir.path(), 1 << 20).unwrap();
    let file = id("y");
    cache.put(1, &file, ThumbSize::Small, b"first").unwrap();
    cache.put(1, &file, ThumbSize::Small, b"second").unwrap();
    assert_eq!(cache.get(1, &file, ThumbSize::Small).unwrap(), b"second");
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(dir.path()).len(), 1, "{:?}", names(dir.path()));
    // A crash between write and rename leaves a temporary file: the next open removes it
    // and it never counts as a thumbnail.
    std::fs::write(dir.path().join("1-abc-small.0123.tmp"), b"half").unwrap();
    let cache = ThumbCache::open(dir.path(), 1 << 20).unwrap();
    assert_eq!(names(dir.path()).len(), 1);
    assert_eq!(cache.total_bytes(), 6);
}

#[test]
fn names_are_built_from_ids_and_digests_only() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ThumbCache::open(dir.path(), 1 << 20).unwrap();
    let hostile = FileIdentity::of(&["../../etc/passwd", "a/b\\c"]);
    let path = cache.path(-1, &hostile, ThumbSize::Medium);
    assert_eq!(path.parent().unwrap(), dir.path());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(!name.contains(".."), "{name}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'),
        "{name}"
    );
    cache.put_no_picture(5, &hostile).unwrap();
    assert!(cache.knows_no_picture(5, &hostile));
    assert!(cache.has(5, &hostile));
    assert!(!cache.knows_no_picture(5, &id("other")));
}

#[test]
fn sizes_are_a_closed_set_with_their_sides() {
    assert_eq!(ThumbSize::parse("small"), Some(ThumbSize::Small));
    assert_eq!(
        ThumbSize::parse("medium").map(ThumbSize::longest),
        Some(800)
    );
    assert_eq!(ThumbSize::parse("large"), None);
    assert_eq!(ThumbSize::parse("../small"), None);
}
