package cli

import "io"

func cmdDemo(args []string, stdout, stderr io.Writer) int    { return exitFail }
func cmdDevices(args []string, stdout, stderr io.Writer) int { return exitFail }
func cmdStatus(args []string, stdout, stderr io.Writer) int  { return exitFail }
