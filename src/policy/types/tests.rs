use super::*;

#[test]
fn names_and_groups_are_unique_and_parse_back() {
    let mut names: Vec<&str> = TYPES.iter().map(|t| t.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), TYPES.len(), "a type is listed twice");
    for &group in Group::ALL {
        assert_eq!(Group::named(group.name()), Some(group));
        // A type named as a group (`text`, `empty`, `other`) is that group's only type.
        if let Some(t) = named(group.name()) {
            assert_eq!(t.group, group, "{}", t.name);
        }
    }
}
