package cli

import (
	_ "embed"
	"fmt"
	"io"
)

// completionBash is the bash completion script; packaging installs this
// same file (packaging/nfpm-kioskd.yaml), so the two cannot differ. It
// reads each command's flags from its --help; its list of commands is
// checked against commands (TestCompletionKnowsEveryCommand).
//
//go:embed completion.bash
var completionBash string

func cmdCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("completion", stderr)
	if len(args) == 1 && args[0] == "bash" {
		fmt.Fprint(stdout, completionBash)
		return exitOK
	}
	if code, ok := parse(fs, args); !ok {
		return code
	}
	return usageError(stderr, fs.Name(), "want a shell: bash", fs.Name())
}
