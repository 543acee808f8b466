use super::*;
use chrono::TimeZone;

fn cx() -> Context {
    let mut c = Context::new(Utc.with_ymd_and_hms(2026, 11, 24, 13, 27, 38).unwrap());
    c.user_vars = Arc::new(
        [("name".to_string(), "web".to_string())]
            .into_iter()
            .collect(),
    );
    c.build_name = Some("My_Build.1".into());
    c.build_type = Some("null".into());
    c
}

fn r(t: &str) -> String {
    render(t, &cx()).unwrap()
}

#[test]
fn functions_and_pipelines() {
    assert_eq!(r("{{user `name`}}-{{ user \"name\" | upper }}"), "web-WEB");
    assert_eq!(r("{{ \"abc-def\" | replace_all \"-\" \"_\" }}"), "abc_def");
    assert_eq!(r("{{replace \"a\" \"b\" 1 \"aaa\"}}"), "baa");
    assert_eq!(r("{{split \"a,b,c\" \",\" 1}}"), "b");
    assert_eq!(r("{{build_name}} {{build_type}}"), "My_Build.1 null");
    assert_eq!(
        r("{{timestamp}} {{isotime}}"),
        "1795526858 2026-11-24T13:27:38Z"
    );
    assert_eq!(
        r("{{ if eq (build_name) \"x\" }}yes{{else}}no{{end}}"),
        "no"
    );
    assert_eq!(
        r("{{len \"abcd\"}} {{printf \"%s-%d\" \"a\" 3}} {{print 1 2}}"),
        "4 a-3 1 2"
    );
    assert_eq!(r("{{packer_version}}"), "1.6.6");
    assert_eq!(r("{{ upper (lower \"AbC\") }}"), "ABC");
}

#[test]
fn later_phase_values_are_left_as_written() {
    assert_eq!(
        r("{{.Vars}} {{.Path}} x {{user `name`}}"),
        "{{.Vars}} {{.Path}} x web"
    );
    assert_eq!(r("id={{ build `ID` }}"), "id={{ build `ID` }}");
    assert_eq!(r("{{if .Flag}}a{{end}}"), "{{if .Flag}}a{{end}}");
    let mut c = cx().with_data([("Path", TVal::from("/tmp/s.sh"))]);
    c.build_data = Some(
        [("ID".to_string(), "Null".to_string())]
            .into_iter()
            .collect(),
    );
    assert_eq!(
        render("{{.Path}} {{build `ID`}}", &c).unwrap(),
        "/tmp/s.sh Null"
    );
    assert!(render("{{build `Nope`}}", &c)
        .unwrap_err()
        .message
        .contains("Nope"));
    assert!(render("{{.Nope}}", &c).is_err());
}

#[test]
fn errors_are_reported() {
    let e = render("x {{split \"a,b\" \",\" 5}}", &cx()).unwrap_err();
    assert!(
        e.message.contains("the substring 5 was unavailable"),
        "{}",
        e.message
    );
    assert!(render("{{nope}}", &cx())
        .unwrap_err()
        .message
        .contains("not defined"));
    assert!(render("{{sed `s/a/b/` `a`}}", &cx())
        .unwrap_err()
        .message
        .contains("deprecated"));
    assert!(render("{{vault `a` `b`}}", &cx())
        .unwrap_err()
        .message
        .contains("not supported yet"));
    let mut strict = cx();
    strict.strict_user_vars = true;
    assert!(render("{{user `missing`}}", &strict).is_err());
    assert_eq!(r("{{user `missing`}}"), "");
    let mut no_build = cx();
    no_build.build_name = None;
    assert!(render("{{build_name}}", &no_build)
        .unwrap_err()
        .message
        .contains("build_name not available"));
}

#[test]
fn range_and_with() {
    let c = cx().with_data([("L", TVal::List(vec!["a".into(), "b".into()]))]);
    assert_eq!(render("{{range .L}}<{{.}}>{{end}}", &c).unwrap(), "<a><b>");
    assert_eq!(render("{{with .L}}{{len .}}{{end}}", &c).unwrap(), "2");
}

#[test]
fn clean_resource_name_replaces_invalid_bytes() {
    assert_eq!(
        super::funcs::clean_resource_name("a b:c+d(1)é"),
        "a b-c-d(1)--"
    );
}

#[test]
fn a_missing_key_of_a_data_map_is_no_value_a_missing_field_an_error() {
    let mut tags = std::collections::BTreeMap::new();
    tags.insert("Name".to_string(), TVal::Str("base".into()));
    let cx = Context::new(chrono::Utc::now()).with_data([("SourceAMITags", TVal::Map(tags))]);
    assert_eq!(render("{{ .SourceAMITags.Name }}", &cx).unwrap(), "base");
    assert_eq!(
        render("{{ .SourceAMITags.Version }}", &cx).unwrap(),
        "<no value>"
    );
    assert!(render("{{ .NoSuchField }}", &cx).is_err());
}
