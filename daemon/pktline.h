/* pktline.h: git's pkt-line framing and the v0/v1 ref advertisement
 * (the body of GET info/refs?service=...), parsed without trusting it. */
#ifndef PKTLINE_H
#define PKTLINE_H

#include <stddef.h>

#define PKTLINE_MAX	65520	/* largest pkt, its 4 length bytes included */
#define PKTLINE_OID_MAX	64	/* hex digits of a SHA-256 id */

enum pktline_type {
	PKTLINE_DATA,		/* a pkt with a payload (maybe empty: "0004") */
	PKTLINE_FLUSH,		/* "0000" */
	PKTLINE_DELIM,		/* "0001", protocol v2 only */
	PKTLINE_END		/* "0002", protocol v2 only */
};

/* One pkt, pointing into the buffer it was read from. */
struct pktline {
	enum pktline_type type;
	const char	*data;	/* payload, not NUL-terminated, LF kept */
	size_t		 len;
	size_t		 at;	/* offset of its length field in the buffer */
};

struct pktline_ref {
	char	*name;
	char	 oid[PKTLINE_OID_MAX + 1];	/* lower-case hex, 40 or 64 */
	char	 peeled[PKTLINE_OID_MAX + 1];	/* annotated tag: the object of
						 * its "^{}" line; else "" */
};

struct pktline_adv {
	struct pktline_ref *refs;	/* in the server's order; "^{}" lines
					 * are folded into ->peeled */
	size_t		 nrefs;
	char		*caps;		/* capability string of the first line,
					 * or NULL */
	char		*head_target;	/* from symref=HEAD:..., or NULL */
	int		 sha256;	/* object-format=sha256 */
	int		 version;	/* 1 after "version 1", else 0 */
};

/*
 * Reads the pkt at buf[*off] (len bytes in all) into *pkt and moves *off
 * past it. Either case of hex is accepted in the length. Returns 0, or -1
 * with *cause ("bad pkt-line length at byte N", "truncated pkt-line at
 * byte N"); *off is then unchanged.
 */
int	 pktline_read(struct pktline *pkt, const char *buf, size_t len,
	    size_t *off, char **cause);

/*
 * Parses a whole upload-pack (or receive-pack) v0/v1 advertisement:
 * "# service=SERVICE", a flush, the ref lines (capabilities after a NUL on
 * the first), a flush; anything after that is ignored. service is e.g.
 * "git-upload-pack"; NULL accepts any. Zero refs (an empty repository, in
 * either form) is a valid answer. Returns 0, or -1 with *out empty and
 * *cause one line, e.g. "ERR repository not found", "bad pkt-line length
 * at byte 12", "missing # service= header", "truncated ...". An ERR text
 * is quoted as the server sent it (control characters masked, cut short).
 */
int	 pktline_parse_adv(struct pktline_adv *out, const char *buf,
	    size_t len, const char *service, char **cause);
void	 pktline_adv_clear(struct pktline_adv *);

/* The ref named exactly refname ("HEAD" included), or NULL. A name ending
 * in "^{}" is never found: see ->peeled. */
const struct pktline_ref *pktline_adv_find(const struct pktline_adv *,
	    const char *refname);

#endif
