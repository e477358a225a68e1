// Command cscctl administers an RSSP installation: it initialises the HSM
// token, master keys, database and development CA, registers signers,
// creates credentials (keys in the HSM, certificates from the development CA
// or a CSR for an external one), enrols TOTP apps, verifies the audit log,
// registers OAuth clients and provisions the quick-start demo account.
//
// Usage:
//
//	cscctl [-config FILE] COMMAND [SUBCOMMAND] [flags]
//
// The configuration file defaults to $CSC_CONFIG, else configs/cscd.yaml.
// Every command and subcommand explains itself with -h. Exit status: 0 on
// success, 1 when the operation failed, 2 on misuse.
//
// cscctl never prints the HSM PIN, a signer's PIN or a password, and prints
// an OAuth client's secret once, when client add creates it, an operator's
// admin API key once, when operator add creates it, and an activation code
// issued for printing (user register/activation -activation print); the
// only other exception is the demo account, whose secrets go to the file named by
// demo -out (mode 0600) and are meant for local development only.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one cscctl invocation and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	c := &cli{stdin: os.Stdin, stdout: stdout, stderr: stderr}
	return c.run(args)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// defaultConfig is the configuration used without -config or CSC_CONFIG.
const (
	defaultConfig = "configs/cscd.yaml"
	envConfig     = "CSC_CONFIG"
)

// cli is one invocation: its streams and global options.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	configPath string
	in         *bufio.Reader // stdin, buffered once for line reads
}

// usageError is misuse of the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// action runs a parsed command.
type action func(ctx context.Context, c *cli) error

// command is a node of the command tree: a group with subcommands, or a leaf
// whose setup declares its flags and returns what to run.
type command struct {
	name     string
	summary  string
	synopsis string // after the command path, e.g. "-username U [-name NAME]"
	setup    func(fs *flag.FlagSet) action
	subs     []*command
}

func commands() []*command {
	return []*command{
		initCommand(),
		userCommand(),
		credentialCommand(),
		totpCommand(),
		factorCommand(),
		auditCommand(),
		demoCommand(),
		clientCommand(),
		operatorCommand(),
	}
}

func (c *cli) run(args []string) int {
	global := flag.NewFlagSet("cscctl", flag.ContinueOnError)
	global.SetOutput(io.Discard)
	def := defaultConfig
	if v := os.Getenv(envConfig); v != "" {
		def = v
	}
	global.StringVar(&c.configPath, "config", def, "configuration file (env "+envConfig+")")
	if err := global.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.topHelp(c.stdout, global)
			return exitOK
		}
		return c.fail("cscctl", usagef("%v", err))
	}
	rest := global.Args()
	if len(rest) == 0 {
		c.topHelp(c.stderr, global)
		return exitUsage
	}
	if rest[0] == "help" {
		c.topHelp(c.stdout, global)
		return exitOK
	}
	cmd := find(commands(), rest[0])
	if cmd == nil {
		return c.fail("cscctl", usagef("unknown command %q (see cscctl -h)", rest[0]))
	}
	return c.dispatch("cscctl "+cmd.name, cmd, rest[1:])
}

func (c *cli) dispatch(path string, cmd *command, args []string) int {
	if len(cmd.subs) > 0 {
		if len(args) == 0 {
			c.groupHelp(c.stderr, path, cmd)
			return exitUsage
		}
		if isHelp(args[0]) {
			c.groupHelp(c.stdout, path, cmd)
			return exitOK
		}
		sub := find(cmd.subs, args[0])
		if sub == nil {
			return c.fail(path, usagef("unknown subcommand %q (see %s -h)", args[0], path))
		}
		return c.dispatch(path+" "+sub.name, sub, args[1:])
	}
	fs := flag.NewFlagSet(path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	act := cmd.setup(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.leafHelp(c.stdout, path, cmd, fs)
			return exitOK
		}
		return c.fail(path, usagef("%v (see %s -h)", err, path))
	}
	if fs.NArg() > 0 {
		return c.fail(path, usagef("unexpected argument %q (see %s -h)", fs.Arg(0), path))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := act(ctx, c); err != nil {
		return c.fail(path, err)
	}
	return exitOK
}

// fail prints err as one line on stderr and returns the exit status.
func (c *cli) fail(path string, err error) int {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintf(c.stderr, "%s: %s\n", path, msg)
	var u *usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFail
}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" || s == "help" }

func find(cmds []*command, name string) *command {
	for _, c := range cmds {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (c *cli) topHelp(w io.Writer, global *flag.FlagSet) {
	fmt.Fprintln(w, "cscctl: administer an RSSP remote signing server (CSC API)")
	fmt.Fprintln(w, "\nUsage: cscctl [-config FILE] COMMAND [SUBCOMMAND] [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-11s %s\n", cmd.name, cmd.summary)
	}
	fmt.Fprintln(w, "\nGlobal flags:")
	global.SetOutput(w)
	global.PrintDefaults()
	global.SetOutput(io.Discard)
	fmt.Fprintln(w, "\nRun 'cscctl COMMAND -h' for a command's subcommands and flags.")
}

func (c *cli) groupHelp(w io.Writer, path string, cmd *command) {
	fmt.Fprintf(w, "%s: %s\n", path, cmd.summary)
	fmt.Fprintf(w, "\nUsage: %s SUBCOMMAND [flags]\n\nSubcommands:\n", path)
	for _, s := range cmd.subs {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	fmt.Fprintf(w, "\nRun '%s SUBCOMMAND -h' for its flags.\n", path)
}

func (c *cli) leafHelp(w io.Writer, path string, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "%s: %s\n", path, cmd.summary)
	fmt.Fprintf(w, "\nUsage: %s %s\n", strings.Replace(path, "cscctl", "cscctl [-config FILE]", 1), cmd.synopsis)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
