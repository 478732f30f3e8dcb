//! Rebuild when a migration is added: `sqlx::migrate!` embeds the directory at
//! compile time but does not watch it for new files.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
