package config

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
)

// ids are the owners a token file may have and the groups that may read
// it: root, the user and group kioskd runs as, and the service's user and
// group by name (kioskd, for a check-config run by root).
type ids struct {
	uids []uint32
	gids []uint32
}

// serviceIDs are root's, this process's and the kioskd user's and group's
// ids (those that exist).
func serviceIDs() ids {
	v := ids{uids: []uint32{0, uint32(os.Geteuid())}, gids: []uint32{0, uint32(os.Getegid())}}
	if u, err := user.Lookup(ServiceGroup); err == nil {
		if n, err := strconv.ParseUint(u.Uid, 10, 32); err == nil {
			v.uids = append(v.uids, uint32(n))
		}
	}
	if g, err := user.LookupGroup(ServiceGroup); err == nil {
		if n, err := strconv.ParseUint(g.Gid, 10, 32); err == nil {
			v.gids = append(v.gids, uint32(n))
		}
	}
	return v
}

// tokenFileWarning says what is wrong with a token file's owner and mode,
// or "": other users may read it if it is world-readable, group-readable
// by a group other than root's and the service's, or owned (and readable
// by its owner) by a user other than root and the service. The message
// names the file and the fix, never the token.
func tokenFileWarning(path string, fi fs.FileInfo, allowed ids) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	mode := fi.Mode().Perm()
	fix := fmt.Sprintf("make it root:%s 0640 (chown root:%s %s && chmod 0640 %s), or give the token as a systemd credential (kioskd(8))",
		ServiceGroup, ServiceGroup, path, path)
	var who string
	switch {
	case mode&0o004 != 0:
		who = "every user"
	case mode&0o040 != 0 && !slices.Contains(allowed.gids, st.Gid):
		who = fmt.Sprintf("group %s", groupName(st.Gid))
	case mode&0o400 != 0 && !slices.Contains(allowed.uids, st.Uid):
		who = fmt.Sprintf("its owner %s", userName(st.Uid))
	default:
		return ""
	}
	return fmt.Sprintf("server.token_file %s is readable by %s (owner %s, group %s, mode %04o); %s",
		path, who, userName(st.Uid), groupName(st.Gid), mode, fix)
}

func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(gid), 10)
}
