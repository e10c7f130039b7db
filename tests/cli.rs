//! The command-line program, run as a user would run it.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mlp-wgpu"))
        .args(args)
        .output()
        .expect("the binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn cpu_run_reports_epochs_and_accuracy() {
    let output = run(&["--device", "cpu", "--epochs", "2", "--hidden", "32"]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(stdout.contains("device: CPU"), "{stdout}");
    assert!(stdout.contains("network: 784-32-10"), "{stdout}");
    assert!(stdout.contains("epoch   2/2"), "{stdout}");
    let accuracy: f64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("test accuracy: "))
        .and_then(|rest| rest.split('%').next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no test accuracy in {stdout}"));
    assert!(accuracy > 80.0, "{stdout}");
}

#[test]
fn gpu_and_cpu_runs_print_same_fingerprint() {
    let fingerprint = |device| {
        let output = run(&[
            "--device", device, "--epochs", "1", "--hidden", "8", "--seed", "3",
        ]);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{device}: {stdout}{}",
            text(&output.stderr)
        );
        stdout
            .split("fingerprint ")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no fingerprint in {stdout}"))
    };
    assert_eq!(fingerprint("cpu"), fingerprint("gpu"));
}

#[test]
fn zero_width_layer_exits_with_error() {
    let output = run(&["--device", "cpu", "--hidden", "0"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: invalid layer width"), "{stderr}");
}

#[test]
fn missing_data_dir_exits_with_error_chain() {
    let output = run(&["--device", "cpu", "--data-dir", "/nonexistent/mnist"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("error: failed to read /nonexistent/mnist/train-images-idx3-ubyte.gz"),
        "{stderr}"
    );
    assert!(
        stderr.contains("caused by: no MNIST file found"),
        "{stderr}"
    );
}

#[test]
fn bad_learning_rate_exits_with_error() {
    let output = run(&["--device", "cpu", "--learning-rate=-1"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("invalid learning rate = -1"), "{stderr}");
}

/// Runs the binary with wgpu restricted to a backend this machine lacks.
fn run_without_adapter(args: &[&str]) -> Output {
    // DX12 exists only on Windows and Metal only on Apple systems.
    let missing = if cfg!(windows) { "metal" } else { "dx12" };
    Command::new(env!("CARGO_BIN_EXE_mlp-wgpu"))
        .args(args)
        .env("WGPU_BACKEND", missing)
        .output()
        .expect("the binary starts")
}

#[test]
fn auto_device_falls_back_to_cpu_without_adapter() {
    let output = run_without_adapter(&["--epochs", "1", "--hidden", "8"]);
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}{stderr}");
    let notices: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("training on the CPU instead"))
        .collect();
    assert_eq!(notices.len(), 1, "{stderr}");
    assert!(notices[0].contains("no GPU adapter found"), "{stderr}");
    assert!(stdout.contains("device: CPU"), "{stdout}");
}

#[test]
fn gpu_device_without_adapter_exits_with_error() {
    let output = run_without_adapter(&["--device", "gpu", "--epochs", "1"]);
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("error: no GPU adapter found"), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
}

#[test]
fn huge_layer_exits_with_error_not_abort() {
    let output = run(&["--device", "cpu", "--hidden", "300000,300000"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid layer shape = [300000, 300000]"),
        "{stderr}"
    );
}

#[test]
fn zero_epochs_is_rejected() {
    let output = run(&["--device", "cpu", "--epochs", "0"]);
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("--epochs"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn unknown_adapter_name_says_which_exist() {
    let output = Command::new(env!("CARGO_BIN_EXE_mlp-wgpu"))
        .args(["--device", "gpu", "--epochs", "1"])
        .env("WGPU_ADAPTER_NAME", "no-such-adapter")
        .output()
        .expect("the binary starts");
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("WGPU_ADAPTER_NAME=\"no-such-adapter\""),
        "{stderr}"
    );
    assert!(stderr.contains("the adapters are"), "{stderr}");
}

#[test]
fn batch_larger_than_data_is_clamped_with_notice() {
    let output = run(&[
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--batch-size",
        "100000",
    ]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert!(
        stdout.contains("batch size 100000 is larger than the 8000 training rows; using 8000"),
        "{stdout}"
    );
}
