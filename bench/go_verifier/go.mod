module gatekeeperbench/goverifier

go 1.19
