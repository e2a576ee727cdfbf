module gatekeepertest/gomcp

go 1.19
