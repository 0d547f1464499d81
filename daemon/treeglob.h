/* treeglob.h: gitignore-like glob matching of repository paths.
 * Decides which paths of a tree a pattern selects; touches no git objects. */
#ifndef TREEGLOB_H
#define TREEGLOB_H

#define TREEGLOB_MAX	1024	/* longest pattern accepted, in bytes */

/*
 * Paths are repository-relative with '/' separators and no leading '/'.
 * A path that ends in '/' names a directory ("data/"); any other path
 * names a file (blob, symlink or submodule entry).
 *
 * Patterns, a subset of gitignore(5):
 *   - A pattern with no '/' other than a trailing one ("*.pyc", "data",
 *     "build/") matches a file or directory name at any depth.
 *   - A pattern with a '/' inside ("src/main.c", "/README.md", "src/?.c") is
 *     anchored at the root; a leading '/' only anchors and may be left
 *     out when another '/' is present.
 *   - '*' matches any run of characters and '?' any one character;
 *     "[abc]", "[a-z]", "[!a-z]" ("[^a-z]") match one character of (not
 *     of) a set; none of them matches '/'.  '\' quotes the next
 *     character.
 *   - "**" as a whole path component spans zero or more directories.
 *     With spaces added here, as slashes and stars would end this
 *     comment: "a/ **" matches everything under a; "** /x" matches x
 *     at any depth; "a/ ** /b" matches a/b, a/x/b and a/x/y/b.
 *     Elsewhere "**" acts like '*'.
 *   - A trailing '/' restricts the pattern to directories.
 *   - Whatever a pattern matches, it also matches everything under it:
 *     "data" and "data/" both match "data/x/y.bin".
 * There is no negation ('!') and no comment syntax.
 */

/* 1 when pattern matches path (or a directory above it), else 0.  An
 * invalid pattern matches nothing. */
int	treeglob_match(const char *pattern, const char *path);

/* 1 when any pattern of the NULL-terminated list globs (NULL: none)
 * matches path, else 0. */
int	treeglob_any(char *const *globs, const char *path);

/* 0 when pattern is usable; -1 with *cause (caller frees) when it is
 * empty, too long, has an empty, "." or ".." component, an unterminated
 * '[' or a trailing '\'. */
int	treeglob_valid(const char *pattern, char **cause);

#endif
