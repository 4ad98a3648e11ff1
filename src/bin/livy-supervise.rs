//! `livy-supervise --dir D -- ARGV…`: the application supervisor as its own
//! small executable (`livy-server supervise` does the same from the server's
//! binary). One starts per application, so its start-up cost is every
//! launch's: this binary links only what supervising needs.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, argv) = match args.as_slice() {
        [flag, dir, sep, argv @ ..] if flag == "--dir" && sep == "--" => (dir, argv),
        _ => {
            eprintln!("usage: livy-supervise --dir DIR -- COMMAND [ARGS...]");
            std::process::exit(2);
        }
    };
    std::process::exit(livy_server::launcher::supervisor::run(
        std::path::Path::new(dir),
        argv,
    ));
}
