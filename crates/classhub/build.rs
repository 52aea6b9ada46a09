// PostgreSQL tests run when CLASSHUB_TEST_POSTGRES_URL is set; see classhub-testkit.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(classhub_pg)");
    println!("cargo::rerun-if-env-changed=CLASSHUB_TEST_POSTGRES_URL");
    if std::env::var_os("CLASSHUB_TEST_POSTGRES_URL").is_some() {
        println!("cargo::rustc-cfg=classhub_pg");
    }
}
