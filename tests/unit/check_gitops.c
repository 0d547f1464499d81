/* check_gitops.c: the libgit2 work of a promotion (gitops*.c), against local
 * bare repositories, a real smart-HTTP server and sockets that never answer. */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <git2.h>
#include <git2/sys/commit.h>

#include "gitops.h"
#include "monotime.h"
#include "redact.h"
#include "testutil.h"
#include "xmalloc.h"

/* 28 characters with '+' and '/', like an Algorithmia key. */
#define KEY_ALICE	"Zq9+tR/x7Lm2+Kp4/Wn8Yb3Vc6Jd"
#define KEY_BOB		"Hh4/Pq+8Rt2/Uv6+Wx0Yz3Ab5Cd7"
#define KEY_WRONG	"Wr0ng+Key/Ab3Cd5Ef7Gh9Ij1Kl2"
#define SUBMODULE_ID	"0123456789abcdef0123456789abcdef01234567"

/* A writable string, as struct gitops_treespec's globs are char *. */
#define S(x)		((char []){ x })

#define GOK(expr) do {							\
	int	 r_ = (expr);						\
	ck_assert_msg(r_ >= 0, "%s: %d %s", #expr, r_,			\
	    git_error_last() != NULL ? git_error_last()->message : "");	\
} while (0)

static char	*tmp;

static void
setup(void)
{
	/* The servers here are all on 127.0.0.1. */
	testutil_noproxy();
	ck_assert_int_eq(gitops_init(), 0);
	tmp = testutil_tmpdir();
}

static void
teardown(void)
{
	testutil_rmtree(tmp);
	free(tmp);
	gitops_shutdown();
}

/* ---------------------------------------------------------------------
 * Fixtures built with libgit2's index, independently of gitops.
 */

struct tfile {
	const char	*path;
	const char	*data;		/* for a submodule: hex id */
	size_t		 len;		/* 0: strlen(data) */
	unsigned int	 mode;		/* 0: 100644 */
};

static git_repository *
bare(const char *path)
{
	git_repository	*repo = NULL;

	GOK(git_repository_init(&repo, path, 1));
	return repo;
}

static void
write_tree(git_repository *repo, const struct tfile *files, git_oid *tree)
{
	git_index	*idx = NULL;
	git_index_entry	 e;
	size_t		 len;

	GOK(git_index_new(&idx));
	for (; files->path != NULL; files++) {
		memset(&e, 0, sizeof e);
		e.path = files->path;
		e.mode = files->mode != 0 ? files->mode : GIT_FILEMODE_BLOB;
		if (e.mode == GIT_FILEMODE_COMMIT)
			GOK(git_oid_fromstr(&e.id, files->data));
		else {
			len = files->len != 0 ? files->len :
			    strlen(files->data);
			GOK(git_blob_create_from_buffer(&e.id, repo,
			    files->data, len));
		}
		GOK(git_index_add(idx, &e));
	}
	GOK(git_index_write_tree_to(tree, idx, repo));
	git_index_free(idx);
}

static void
commit_tree_as(git_repository *repo, const git_oid *tree,
    const git_oid *parent, const char *msg, git_oid *out)
{
	git_signature	*sig = NULL;
	const git_oid	*parents[1] = { parent };

	GOK(git_signature_new(&sig, "Dev", "dev@example.com", 1700000000, 0));
	GOK(git_commit_create_from_ids(out, repo, NULL, sig, sig, NULL, msg,
	    tree, parent != NULL ? 1 : 0, parents));
	git_signature_free(sig);
}

/* Commits files on parent and points ref (may be NULL) at it. */
static void
commit_files(git_repository *repo, const char *ref, const git_oid *parent,
    const struct tfile *files, const char *msg, git_oid *out)
{
	git_reference	*r = NULL;
	git_oid		 tree;

	write_tree(repo, files, &tree);
	commit_tree_as(repo, &tree, parent, msg, out);
	if (ref != NULL) {
		GOK(git_reference_create(&r, repo, ref, out, 1, NULL));
		git_reference_free(r);
	}
}

static int
ref_id(git_repository *repo, const char *name, git_oid *out)
{
	return git_reference_name_to_id(out, repo, name);
}

static void
assert_oid_eq(const git_oid *a, const git_oid *b)
{
	char	 ha[GIT_OID_HEXSZ + 1], hb[GIT_OID_HEXSZ + 1];

	git_oid_tostr(ha, sizeof ha, a);
	git_oid_tostr(hb, sizeof hb, b);
	ck_assert_str_eq(ha, hb);
}

static char *
blob_at(git_repository *repo, const git_oid *tree_id, const char *path)
{
	git_tree	*tree = NULL;
	git_tree_entry	*e = NULL;
	git_blob	*blob = NULL;
	char		*out;

	GOK(git_tree_lookup(&tree, repo, tree_id));
	GOK(git_tree_entry_bypath(&e, tree, path));
	GOK(git_blob_lookup(&blob, repo, git_tree_entry_id(e)));
	out = xstrndup(git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return out;
}

static void
assert_no_secret(const char *text, const char *user, const char *key)
{
	char	*pct, *pair, *b64;

	pct = redact_pct_encode(key);
	pair = xprintf("%s:%s", user, key);
	b64 = redact_base64(pair, strlen(pair));
	ck_assert_msg(strstr(text, key) == NULL, "key in: %s", text);
	ck_assert_msg(strstr(text, pct) == NULL, "%%-key in: %s", text);
	ck_assert_msg(strstr(text, b64) == NULL, "Basic token in: %s", text);
	free(b64);
	free(pair);
	free(pct);
}

/* ---------------------------------------------------------------------
 * Mirror, fetch, ls over the local transport.
 */

START_TEST(test_mirror_open)
{
	git_repository	*repo = NULL;
	char		*path, *cause = NULL, *empty, *junk, *cfg, *cfgpath;

	path = xprintf("%s/a/b/c/mirror.git", tmp);
	ck_assert_msg(gitops_mirror_open(&repo, path, &cause) == 0, "%s",
	    cause);
	ck_assert(git_repository_is_bare(repo));
	git_repository_free(repo);
	cfgpath = xprintf("%s/config", path);
	cfg = testutil_read(cfgpath);
	ck_assert_msg(strstr(cfg, "[remote") == NULL &&
	    strstr(cfg, "url") == NULL, "%s", cfg);
	free(cfg);
	free(cfgpath);

	/* Again: opened, not re-created. */
	ck_assert_int_eq(gitops_mirror_open(&repo, path, &cause), 0);
	git_repository_free(repo);

	empty = xprintf("%s/empty", tmp);
	ck_assert_int_eq(mkdir(empty, 0700), 0);
	ck_assert_int_eq(gitops_mirror_open(&repo, empty, &cause), 0);
	ck_assert(git_repository_is_bare(repo));
	git_repository_free(repo);

	junk = xprintf("%s/junk", tmp);
	ck_assert_int_eq(mkdir(junk, 0700), 0);
	free(path);
	path = xprintf("%s/file", junk);
	testutil_write(path, "not a repository\n", 0600);
	ck_assert_int_eq(gitops_mirror_open(&repo, junk, &cause), -1);
	ck_assert_ptr_null(repo);
	ck_assert_msg(strstr(cause, junk) != NULL, "%s", cause);
	free(cause);
	free(junk);
	free(empty);
	free(path);
}
END_TEST

/*
 * The pack settings gitops_mirror_open writes into the mirror (see
 * gitops_mirror.c): what libgit2's packbuilder then does with a pair of
 * near-identical blobs above 1 MiB (sent whole) and below it (one made a
 * delta of the other), against a repository without them (both pairs
 * deltified).  Pack sizes, not times.
 */
#define PACK_BIG	(1536 * 1024)
#define PACK_SMALL	(16 * 1024)

static void
fill_random(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t	 x = seed | 1;
	size_t		 i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (unsigned char)(x >> 24);
	}
}

/* The size of a pack of two near-identical random blobs of n bytes,
 * built from repo's packbuilder (its config). */
static size_t
pack_pair_size(git_repository *repo, size_t n, uint64_t seed)
{
	git_packbuilder	*pb = NULL;
	git_buf		 buf = { 0 };
	unsigned char	*data;
	git_oid		 a, b;
	size_t		 size;

	data = xmalloc(n);
	fill_random(data, n, seed);
	GOK(git_blob_create_from_buffer(&a, repo, data, n));
	data[n / 2] ^= 0x5a;
	GOK(git_blob_create_from_buffer(&b, repo, data, n));
	free(data);
	GOK(git_packbuilder_new(&pb, repo));
	git_packbuilder_set_threads(pb, 1);
	GOK(git_packbuilder_insert(pb, &a, "model.bin"));
	GOK(git_packbuilder_insert(pb, &b, "model.bin"));
	GOK(git_packbuilder_write_buf(&buf, pb));
	size = buf.size;
	git_buf_dispose(&buf);
	git_packbuilder_free(pb);
	return size;
}

START_TEST(test_mirror_pack_settings)
{
	git_repository	*repo = NULL, *plain;
	git_config	*cfg = NULL, *local = NULL;
	int64_t		 v;
	size_t		 size;
	char		*path, *ppath, *cause = NULL;

	path = xprintf("%s/mirror.git", tmp);
	ck_assert_msg(gitops_mirror_open(&repo, path, &cause) == 0, "%s",
	    cause);
	GOK(git_repository_config(&cfg, repo));
	GOK(git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL));
	GOK(git_config_get_int64(&v, local, "pack.deltaCacheSize"));
	ck_assert_int_eq(v, 1024 * 1024);
	GOK(git_config_get_int64(&v, local, "pack.windowMemory"));
	ck_assert_int_eq(v, 1024 * 1024);

	/* A changed value is put back when the mirror is opened again. */
	GOK(git_config_set_int64(local, "pack.deltaCacheSize", 999));
	git_config_free(local);
	git_config_free(cfg);
	git_repository_free(repo);
	ck_assert_int_eq(gitops_mirror_open(&repo, path, &cause), 0);
	GOK(git_repository_config(&cfg, repo));
	GOK(git_config_open_level(&local, cfg, GIT_CONFIG_LEVEL_LOCAL));
	GOK(git_config_get_int64(&v, local, "pack.deltaCacheSize"));
	ck_assert_int_eq(v, 1024 * 1024);
	git_config_free(local);
	git_config_free(cfg);

	/* Above 1 MiB: both whole.  Below: one a delta of the other. */
	size = pack_pair_size(repo, PACK_BIG, 7);
	ck_assert_msg(size > 2 * PACK_BIG, "big pair packed in %zu", size);
	size = pack_pair_size(repo, PACK_SMALL, 8);
	ck_assert_msg(size < PACK_SMALL + PACK_SMALL / 2,
	    "small pair packed in %zu", size);
	git_repository_free(repo);

	/* Without the settings libgit2 deltifies the big pair too. */
	ppath = xprintf("%s/plain.git", tmp);
	plain = bare(ppath);
	size = pack_pair_size(plain, PACK_BIG, 7);
	ck_assert_msg(size < PACK_BIG + PACK_BIG / 2,
	    "plain: big pair packed in %zu", size);
	git_repository_free(plain);
	free(ppath);
	free(path);
}
END_TEST

static const struct tfile files_v1[] = {
	{ "README.md", "# Hello\n", 0, 0 },
	{ "src/Hello.py", "def apply(x):\n    return x\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static const struct tfile files_v2[] = {
	{ "README.md", "# Hello\n", 0, 0 },
	{ "src/Hello.py", "def apply(x):\n    return 'hello ' + x\n", 0, 0 },
	{ "requirements.txt", "algorithmia>=1.0.0,<2.0\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

START_TEST(test_fetch_fresh_and_incremental)
{
	struct gitops_remote	 r = { .timeout_ms = 2000 };
	git_repository		*src, *mirror = NULL;
	git_oid			 c1, c2, head, got;
	char			*srcpath, *mpath, *cause = NULL;
	int			 found = -1;

	srcpath = xprintf("%s/src.git", tmp);
	src = bare(srcpath);
	commit_files(src, "refs/heads/master", NULL, files_v1, "one\n", &c1);
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	r.url = srcpath;

	ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &c1);
	GOK(ref_id(mirror, "refs/src/master", &got));
	assert_oid_eq(&got, &c1);

	/* A second commit arrives incrementally into the same mirror. */
	commit_files(src, "refs/heads/master", &c1, files_v2, "two\n", &c2);
	ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &c2);
	GOK(ref_id(mirror, "refs/src/master", &got));
	assert_oid_eq(&got, &c2);
	{
		git_commit	*c = NULL;

		GOK(git_commit_lookup(&c, mirror, &c1));
		git_commit_free(c);
	}

	/* Nothing new: same answer, the objects are already here. */
	ck_assert_int_eq(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/other/master", &head, &found, &cause), 0);
	assert_oid_eq(&head, &c2);
	GOK(ref_id(mirror, "refs/other/master", &got));
	assert_oid_eq(&got, &c2);

	/* The mirror's config names no remote and no URL. */
	{
		char	*cfgpath = xprintf("%s/config", mpath);
		char	*cfg = testutil_read(cfgpath);

		ck_assert_msg(strstr(cfg, "remote") == NULL &&
		    strstr(cfg, srcpath) == NULL, "%s", cfg);
		free(cfg);
		free(cfgpath);
	}
	git_repository_free(mirror);
	git_repository_free(src);
	free(mpath);
	free(srcpath);
}
END_TEST

/* Counts regular files under dir/sub whose names satisfy the filter. */
static size_t
count_files(const char *dir, const char *suffix)
{
	DIR		*d, *sub;
	struct dirent	*de, *se;
	char		*path;
	size_t		 n = 0, l;

	if (suffix != NULL) {		/* packs: dir/pack/NAME.suffix */
		path = xprintf("%s/pack", dir);
		ck_assert_ptr_nonnull(d = opendir(path));
		while ((de = readdir(d)) != NULL) {
			l = strlen(de->d_name);
			if (l > strlen(suffix) && strcmp(de->d_name + l -
			    strlen(suffix), suffix) == 0)
				n++;
		}
		closedir(d);
		free(path);
		return n;
	}
	ck_assert_ptr_nonnull(d = opendir(dir));	/* loose: dir/XX/ */
	while ((de = readdir(d)) != NULL) {
		if (strlen(de->d_name) != 2 || strcmp(de->d_name, "..") == 0)
			continue;
		path = xprintf("%s/%s", dir, de->d_name);
		if ((sub = opendir(path)) != NULL) {
			while ((se = readdir(sub)) != NULL)
				n += se->d_name[0] != '.';
			closedir(sub);
		}
		free(path);
	}
	closedir(d);
	return n;
}

START_TEST(test_maintain_repacks_reachable_objects)
{
	struct gitops_remote	 r = { .timeout_ms = 2000 };
	git_repository		*src, *mirror = NULL, *again = NULL;
	git_oid			 c[6], head, junk, got;
	git_commit		*commit = NULL;
	git_tree		*tree = NULL;
	git_blob		*blob = NULL;
	char			*srcpath, *mpath, *objdir, *cause = NULL;
	int			 i, found, repacked = -1;
	struct tfile		 files[] = {
		{ "f.txt", NULL, 0, 0 }, { NULL, NULL, 0, 0 }
	};
	char			 text[32];

	srcpath = xprintf("%s/src.git", tmp);
	src = bare(srcpath);
	mpath = xprintf("%s/mirror", tmp);
	objdir = xprintf("%s/objects", mpath);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	r.url = srcpath;
	/* Six fetches of new commits, and commits made in the mirror: packs
	 * and loose objects, as months of promotions leave them. */
	for (i = 0; i < 6; i++) {
		snprintf(text, sizeof text, "version %d\n", i);
		files[0].data = text;
		commit_files(src, "refs/heads/master", i ? &c[i - 1] : NULL,
		    files, "change\n", &c[i]);
		ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
		    "refs/src/master", &head, &found, &cause) == 0, "%s",
		    cause);
	}
	commit_files(mirror, "refs/dst/master", &c[5], files_v2, "promote\n",
	    &head);
	GOK(git_blob_create_from_buffer(&junk, mirror, "unreachable", 11));
	ck_assert_uint_gt(count_files(objdir, NULL), 0);

	/* Under the bounds nothing happens. */
	ck_assert_int_eq(gitops_maintain(mirror, 0, &repacked, &cause), 0);
	ck_assert_int_eq(repacked, 0);
	ck_assert_uint_gt(count_files(objdir, NULL), 0);

	ck_assert_msg(gitops_maintain(mirror, 1, &repacked, &cause) == 0,
	    "%s", cause);
	ck_assert_int_eq(repacked, 1);
	ck_assert_uint_eq(count_files(objdir, ".pack"), 1);
	ck_assert_uint_eq(count_files(objdir, ".idx"), 1);
	ck_assert_uint_eq(count_files(objdir, NULL), 0);

	/* A fresh handle finds every reachable object, and not the junk. */
	GOK(git_repository_open_bare(&again, mpath));
	for (i = 0; i < 6; i++) {
		GOK(git_commit_lookup(&commit, again, &c[i]));
		GOK(git_commit_tree(&tree, commit));
		GOK(git_blob_lookup(&blob, again,
		    git_tree_entry_id(git_tree_entry_byname(tree, "f.txt"))));
		git_blob_free(blob);
		git_tree_free(tree);
		git_commit_free(commit);
	}
	GOK(ref_id(again, "refs/dst/master", &got));
	assert_oid_eq(&got, &head);
	GOK(git_commit_lookup(&commit, again, &head));
	git_commit_free(commit);
	ck_assert_int_ne(git_blob_lookup(&blob, again, &junk), 0);
	/* And the mirror still fetches. */
	ck_assert_int_eq(gitops_fetch(again, &r, "refs/heads/master",
	    "refs/src/master", &got, &found, &cause), 0);
	assert_oid_eq(&got, &c[5]);

	git_repository_free(again);
	git_repository_free(mirror);
	git_repository_free(src);
	free(objdir);
	free(mpath);
	free(srcpath);
}
END_TEST

START_TEST(test_fetch_empty_remote)
{
	struct gitops_remote	 r = { .timeout_ms = 2000 };
	git_repository		*src, *mirror = NULL;
	git_oid			 head, got;
	char			*srcpath, *mpath, *cause = NULL;
	int			 found = -1;

	srcpath = xprintf("%s/empty.git", tmp);
	src = bare(srcpath);
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	r.url = srcpath;
	ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/dst/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 0);
	ck_assert(git_oid_is_zero(&head));
	ck_assert_int_eq(ref_id(mirror, "refs/dst/master", &got),
	    GIT_ENOTFOUND);

	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), 0);
	ck_assert_int_eq(found, 0);

	/* Bad ref names never reach libgit2's refspec parser. */
	ck_assert_int_eq(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/x:refs/y", &head, &found, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "bad ref name"));
	free(cause);
	git_repository_free(mirror);
	git_repository_free(src);
	free(mpath);
	free(srcpath);
}
END_TEST

START_TEST(test_ls_and_bad_remote)
{
	struct gitops_remote	 r = { .timeout_ms = 2000 };
	git_repository		*src;
	git_oid			 c1, head;
	char			*srcpath, *cause = NULL;
	int			 found = -1;

	srcpath = xprintf("%s/src.git", tmp);
	src = bare(srcpath);
	commit_files(src, "refs/heads/master", NULL, files_v1, "one\n", &c1);
	r.url = srcpath;
	ck_assert_msg(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &c1);
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/main", &head, &found,
	    &cause), 0);
	ck_assert_int_eq(found, 0);

	/* Missing repository: an error naming the URL. */
	free(srcpath);
	srcpath = xprintf("%s/nope.git", tmp);
	r.url = srcpath;
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strncmp(cause, "ls ", 3) == 0 &&
	    strstr(cause, "nope.git") != NULL, "%s", cause);
	free(cause);

	/* Credentials in the URL are refused outright, and not echoed. */
	r.url = "https://alice:" KEY_ALICE "@git.example.com/git/a/b.git";
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "credentials in the URL") != NULL, "%s",
	    cause);
	assert_no_secret(cause, "alice", KEY_ALICE);
	free(cause);
	git_repository_free(src);
	free(srcpath);
}
END_TEST

/* ---------------------------------------------------------------------
 * The destination tree.
 */

#define CONF_SRC							\
	"{\n  \"username\": \"alice\",\n  \"algoname\": \"Hello\",\n"	\
	"  \"langauge\": \"python3.7\",\n"				\
	"  \"x\": [1, -2.5e3, {\"a\": null, \"b\": \"\\u00e9\"}]\n}\n"
#define CONF_DST							\
	"{\n  \"username\": \"bob\",\n  \"algoname\": \"HelloProd\",\n"	\
	"  \"langauge\": \"python3.7\",\n"				\
	"  \"x\": [1, -2.5e3, {\"a\": null, \"b\": \"\\u00e9\"}]\n}\n"

static const char model_bin[] = "\x00\x01\xff\xfe\x00" "BIN\x80";

static const struct tfile tree_src[] = {
	{ "algorithmia.conf", CONF_SRC, 0, 0 },
	{ "src/Hello.py", "def apply(x):\n    return 'hello ' + x\n", 0, 0 },
	{ "src/util.py", "#!/usr/bin/env python3\n", 0,
	    GIT_FILEMODE_BLOB_EXECUTABLE },
	{ "src/new_name.py", "moved\n", 0, 0 },
	{ "src/x.pyc", "\x01pyc", 0, 0 },
	{ "notes.pyc", "junk", 0, 0 },
	{ "bin/run", "../src/Hello.py", 0, GIT_FILEMODE_LINK },
	{ "data/model.bin", model_bin, sizeof model_bin - 1, 0 },
	{ "secrets/dev.env", "KEY=dev\n", 0, 0 },
	{ "tests/test_a.py", "assert True\n", 0, 0 },
	{ "README.md", "dev readme\n", 0, 0 },
	{ "config/prod.yaml", "env: dev\n", 0, 0 },
	{ "config/local.yaml", "local: 1\n", 0, 0 },
	{ "config/common.yaml", "common: 1\n", 0, 0 },
	{ "vendor/lib", SUBMODULE_ID, 0, GIT_FILEMODE_COMMIT },
	{ NULL, NULL, 0, 0 }
};

static const struct tfile tree_dst[] = {
	{ "algorithmia.conf", "{\"username\": \"bob\"}\n", 0, 0 },
	{ "README.md", "prod readme\n", 0, 0 },
	{ "config/prod.yaml", "env: prod\n", 0, 0 },
	{ "src/old_name.py", "moved\n", 0, 0 },
	{ "src/Hello.py", "old\n", 0, 0 },
	{ "prod/keys.txt", "k=1\n", 0, 0 },
	{ "tests/prod_only.py", "x\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

/* What a promotion of tree_src onto tree_dst must give. */
static const struct tfile tree_want[] = {
	{ "algorithmia.conf", CONF_DST, 0, 0 },
	{ "src/Hello.py", "def apply(x):\n    return 'hello ' + x\n", 0, 0 },
	{ "src/util.py", "#!/usr/bin/env python3\n", 0,
	    GIT_FILEMODE_BLOB_EXECUTABLE },
	{ "src/new_name.py", "moved\n", 0, 0 },
	{ "bin/run", "../src/Hello.py", 0, GIT_FILEMODE_LINK },
	{ "data/model.bin", model_bin, sizeof model_bin - 1, 0 },
	{ "README.md", "prod readme\n", 0, 0 },
	{ "config/prod.yaml", "env: prod\n", 0, 0 },
	{ "config/common.yaml", "common: 1\n", 0, 0 },
	{ "vendor/lib", SUBMODULE_ID, 0, GIT_FILEMODE_COMMIT },
	{ "prod/keys.txt", "k=1\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

/* The same without a destination: preserved paths are simply absent. */
static const struct tfile tree_want_first[] = {
	{ "algorithmia.conf", CONF_DST, 0, 0 },
	{ "src/Hello.py", "def apply(x):\n    return 'hello ' + x\n", 0, 0 },
	{ "src/util.py", "#!/usr/bin/env python3\n", 0,
	    GIT_FILEMODE_BLOB_EXECUTABLE },
	{ "src/new_name.py", "moved\n", 0, 0 },
	{ "bin/run", "../src/Hello.py", 0, GIT_FILEMODE_LINK },
	{ "data/model.bin", model_bin, sizeof model_bin - 1, 0 },
	{ "config/common.yaml", "common: 1\n", 0, 0 },
	{ "vendor/lib", SUBMODULE_ID, 0, GIT_FILEMODE_COMMIT },
	{ NULL, NULL, 0, 0 }
};

static char *const excl[] = { S("*.pyc"), S("secrets/"), S("tests/"),
    NULL };
static char *const pres[] = { S("README.md"), S("/config/prod.yaml"),
    S("config/local.yaml"), S("prod/"), NULL };

START_TEST(test_make_tree_exact)
{
	struct gitops_treespec	 spec = { excl, pres, "bob",
	    "HelloProd", NULL, NULL };
	git_repository		*repo;
	git_oid			 s1, d1, d2, got, want, dtree;
	char			*path, *cause = NULL;

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	commit_files(repo, NULL, NULL, tree_src, "src\n", &s1);
	commit_files(repo, NULL, NULL, tree_dst, "dst\n", &d1);

	ck_assert_msg(gitops_make_tree(repo, &s1, &d1, &spec, &got,
	    &cause) == 0, "%s", cause);
	write_tree(repo, tree_want, &want);
	assert_oid_eq(&got, &want);

	/* No change: promoting again onto the result gives its tree. */
	commit_tree_as(repo, &want, &d1, "promoted\n", &d2);
	ck_assert_int_eq(gitops_make_tree(repo, &s1, &d2, &spec, &got,
	    &cause), 0);
	ck_assert_int_eq(gitops_commit_tree(repo, &d2, &dtree, &cause), 0);
	assert_oid_eq(&got, &dtree);

	/* First promotion: nothing to preserve from. */
	ck_assert_int_eq(gitops_make_tree(repo, &s1, NULL, &spec, &got,
	    &cause), 0);
	write_tree(repo, tree_want_first, &want);
	assert_oid_eq(&got, &want);

	git_repository_free(repo);
	free(path);
}
END_TEST

START_TEST(test_make_tree_plain_copy)
{
	struct gitops_treespec	 spec = { NULL, NULL, NULL, NULL, NULL,
	    NULL };
	git_repository		*repo;
	git_oid			 s1, got, stree;
	char			*path, *cause = NULL;

	/* No globs, no owner: the source tree, id for id. */
	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	commit_files(repo, NULL, NULL, tree_src, "src\n", &s1);
	ck_assert_int_eq(gitops_make_tree(repo, &s1, NULL, &spec, &got,
	    &cause), 0);
	ck_assert_int_eq(gitops_commit_tree(repo, &s1, &stree, &cause), 0);
	assert_oid_eq(&got, &stree);
	git_repository_free(repo);
	free(path);
}
END_TEST

/* A root file replaced by another blob (a re-locked model manifest), its
 * mode kept; a file of that name below the root is not; the root blob
 * reader sees the new content, none for a missing name, an error for a
 * blob over its limit. */
START_TEST(test_make_tree_replaces_a_root_file)
{
	static const struct tfile files[] = {
		{ "model_manifest.json.freeze", "{\"old\": 1}", 0, 0 },
		{ "sub/model_manifest.json.freeze", "{\"below\": 1}", 0, 0 },
		{ "run.sh", "echo\n", 0, GIT_FILEMODE_BLOB_EXECUTABLE },
		{ NULL, NULL, 0, 0 }
	};
	struct gitops_treespec	 spec = { NULL, NULL, NULL, NULL, NULL,
	    NULL };
	git_repository		*repo;
	git_oid			 s1, nb, tree, c2;
	char			*path, *cause = NULL, *text;
	size_t			 len;

	path = xprintf("%s/r.git", tmp);
	repo = bare(path);
	commit_files(repo, NULL, NULL, files, "src\n", &s1);
	ck_assert_int_eq(gitops_blob_write(repo, "{\"new\": 2}", 10, &nb,
	    &cause), 0);
	spec.replace_name = "model_manifest.json.freeze";
	spec.replace_id = &nb;
	ck_assert_int_eq(gitops_make_tree(repo, &s1, NULL, &spec, &tree,
	    &cause), 0);
	commit_tree_as(repo, &tree, NULL, "dst\n", &c2);
	ck_assert_int_eq(gitops_root_blob(repo, &c2,
	    "model_manifest.json.freeze", 1024, &text, &len, &cause), 1);
	ck_assert_str_eq(text, "{\"new\": 2}");
	ck_assert_uint_eq(len, 10);
	free(text);
	ck_assert_int_eq(gitops_root_blob(repo, &s1,
	    "model_manifest.json.freeze", 1024, &text, &len, &cause), 1);
	ck_assert_str_eq(text, "{\"old\": 1}");
	free(text);
	ck_assert_int_eq(gitops_root_blob(repo, &c2, "sub", 1024, &text,
	    &len, &cause), 0);
	ck_assert_ptr_null(text);
	ck_assert_int_eq(gitops_root_blob(repo, &c2, "nothing", 1024, &text,
	    &len, &cause), 0);
	ck_assert_int_eq(gitops_root_blob(repo, &c2, "run.sh", 2, &text,
	    &len, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "larger than 2 bytes"));
	free(cause);
	cause = NULL;
	/* Without the replacement: the source tree as it was. */
	spec.replace_id = NULL;
	ck_assert_int_eq(gitops_make_tree(repo, &s1, NULL, &spec, &tree,
	    &cause), 0);
	ck_assert_int_eq(gitops_commit_tree(repo, &s1, &c2, &cause), 0);
	assert_oid_eq(&tree, &c2);
	git_repository_free(repo);
	free(path);
}
END_TEST

/* The conf of a promotion of a source holding only conf. */
static char *
conf_result(git_repository *repo, const char *conf, char *const *preserve,
    const git_oid *dst)
{
	struct gitops_treespec	 spec = { NULL, preserve, "bob",
	    "HelloProd", NULL, NULL };
	struct tfile		 files[] = {
		{ "algorithmia.conf", conf, 0, 0 },
		{ NULL, NULL, 0, 0 }
	};
	git_oid			 s, tree;
	char			*cause = NULL;

	commit_files(repo, NULL, NULL, files, "conf\n", &s);
	ck_assert_msg(gitops_make_tree(repo, &s, dst, &spec, &tree,
	    &cause) == 0, "%s", cause);
	return blob_at(repo, &tree, "algorithmia.conf");
}

static void
conf_case(git_repository *repo, const char *in, const char *want)
{
	char	*got = conf_result(repo, in, NULL, NULL);

	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(test_conf_rewrite)
{
	char *const keep_conf[] = { S("algorithmia.conf"), NULL };
	static const struct tfile dst_files[] = {
		{ "algorithmia.conf", "{\"username\":\"prod-owner\"}", 0, 0 },
		{ NULL, NULL, 0, 0 }
	};
	git_repository	*repo;
	git_oid		 d;
	char		*path, *got;

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);

	/* The root conf goes through algoconf_rewrite (check_algoconf.c). */
	conf_case(repo, CONF_SRC, CONF_DST);
	/* Not a JSON object: kept byte for byte, with a warning. */
	conf_case(repo, "not json {", "not json {");
	conf_case(repo, "[1, 2]", "[1, 2]");

	/* A preserved conf is the destination's, untouched. */
	commit_files(repo, NULL, NULL, dst_files, "dst\n", &d);
	got = conf_result(repo, CONF_SRC, keep_conf, &d);
	ck_assert_str_eq(got, "{\"username\":\"prod-owner\"}");
	free(got);

	git_repository_free(repo);
	free(path);
}
END_TEST

START_TEST(test_make_tree_conflicts_and_errors)
{
	char *const keep_txt[] = { S("keep.txt"), NULL };
	char *const keep_dir[] = { S("data/"), NULL };
	char *const bad[] = { S("ok"), S("[abc"), NULL };
	static const struct tfile s_files[] = {
		{ "logs", "a file in the source\n", 0, 0 },
		{ "data", "also a file\n", 0, 0 },
		{ NULL, NULL, 0, 0 }
	};
	static const struct tfile d_files[] = {
		{ "logs/keep.txt", "kept\n", 0, 0 },
		{ "data/x", "prod data\n", 0, 0 },
		{ NULL, NULL, 0, 0 }
	};
	static const struct tfile want[] = {
		{ "logs", "a file in the source\n", 0, 0 },
		{ "data/x", "prod data\n", 0, 0 },
		{ NULL, NULL, 0, 0 }
	};
	struct gitops_treespec	 spec = { NULL, keep_txt, NULL, NULL, NULL, NULL };
	git_repository		*repo;
	git_oid			 s, d, got, wanted;
	char			*path, *cause = NULL;

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	commit_files(repo, NULL, NULL, s_files, "s\n", &s);
	commit_files(repo, NULL, NULL, d_files, "d\n", &d);

	/* A source file over preserved destination paths: refused. */
	ck_assert_int_eq(gitops_make_tree(repo, &s, &d, &spec, &got, &cause),
	    -1);
	ck_assert_msg(strstr(cause, "logs") != NULL &&
	    strstr(cause, "preserved") != NULL, "%s", cause);
	free(cause);
	cause = NULL;

	/* A preserved destination directory wins over a source file. */
	spec.preserve = keep_dir;
	ck_assert_msg(gitops_make_tree(repo, &s, &d, &spec, &got, &cause) ==
	    0, "%s", cause);
	write_tree(repo, want, &wanted);
	assert_oid_eq(&got, &wanted);

	spec.exclude = bad;
	ck_assert_int_eq(gitops_make_tree(repo, &s, &d, &spec, &got, &cause),
	    -1);
	ck_assert_msg(strstr(cause, "exclude") != NULL &&
	    strstr(cause, "unterminated") != NULL, "%s", cause);
	free(cause);

	/* Not a commit. */
	spec.exclude = NULL;
	ck_assert_int_eq(gitops_make_tree(repo, &wanted, NULL, &spec, &got,
	    &cause), -1);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	git_repository_free(repo);
	free(path);
}
END_TEST

/* A tree object written as raw bytes (libgit2's builders refuse the
 * names under test): one blob entry, mode 100644, named name (namelen
 * bytes, NULs included), or a tree entry when sub is not NULL. */
static void
raw_tree(git_repository *repo, const char *name, size_t namelen,
    const git_oid *blob, const git_oid *sub, git_oid *out)
{
	git_odb		*odb = NULL;
	char		 buf[256];
	const char	*mode = sub != NULL ? "40000 " : "100644 ";
	size_t		 n = 0;

	ck_assert_uint_lt(strlen(mode) + namelen + 1 + GIT_OID_RAWSZ,
	    sizeof buf);
	memcpy(buf, mode, strlen(mode));
	n = strlen(mode);
	memcpy(buf + n, name, namelen);
	n += namelen;
	buf[n++] = '\0';
	memcpy(buf + n, (sub != NULL ? sub : blob)->id, GIT_OID_RAWSZ);
	n += GIT_OID_RAWSZ;
	GOK(git_repository_odb(&odb, repo));
	GOK(git_odb_write(out, odb, buf, n, GIT_OBJECT_TREE));
	git_odb_free(odb);
}

/* A source tree holding names git forbids: refused by name, with the
 * source commit and the path, before libgit2's tree builder says
 * "failed to insert entry"; names libgit2 cannot even read (empty, a
 * NUL inside) fail on reading the source commit's tree. */
START_TEST(test_make_tree_hostile_names)
{
	static const struct {
		const char	*name;
		size_t		 len;
		int		 nested;
		const char	*shown;
	} bad[] = {
		{ "..", 2, 0, ".." }, { ".", 1, 0, "." },
		{ ".git", 4, 0, ".git" }, { ".GiT", 4, 1, "src/.GiT" },
		{ "/etc/passwd", 11, 0, "/etc/passwd" },
		{ "a/../../b", 9, 1, "src/a/../../b" },
		{ "x\n/\"\xe9", 5, 0, "x\\x0a/\\x22\\xe9" },
	};
	static const char *const unreadable[] = { "", "a\0b" };
	static const size_t unreadable_len[] = { 0, 3 };
	struct gitops_treespec	 spec = { NULL, NULL, "bob", "Hello", NULL, NULL };
	git_repository		*repo;
	git_oid			 blob, tree, sub, c, got;
	char			*path, *cause = NULL, *want, hex[13];
	char			 full[GIT_OID_HEXSZ + 1];
	size_t			 i;

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	GOK(git_blob_create_from_buffer(&blob, repo, "x\n", 2));
	for (i = 0; i < nitems(bad); i++) {
		raw_tree(repo, bad[i].name, bad[i].len, &blob, NULL, &tree);
		if (bad[i].nested) {
			sub = tree;
			raw_tree(repo, "src", 3, NULL, &sub, &tree);
		}
		commit_tree_as(repo, &tree, NULL, "hostile\n", &c);
		ck_assert_int_eq(gitops_make_tree(repo, &c, NULL, &spec, &got,
		    &cause), -1);
		want = xprintf("source commit %s has an entry \"%s\": a name "
		    "git does not allow in a tree", git_oid_tostr(hex,
		    sizeof hex, &c), bad[i].shown);
		ck_assert_str_eq(cause, want);
		free(want);
		free(cause);
		cause = NULL;
	}
	for (i = 0; i < nitems(unreadable); i++) {
		raw_tree(repo, unreadable[i], unreadable_len[i], &blob, NULL,
		    &tree);
		commit_tree_as(repo, &tree, NULL, "hostile\n", &c);
		ck_assert_int_eq(gitops_make_tree(repo, &c, NULL, &spec, &got,
		    &cause), -1);
		want = xprintf("source commit %s: failed to parse tree: ",
		    git_oid_tostr(full, sizeof full, &c));
		ck_assert_msg(strncmp(cause, want, strlen(want)) == 0, "%s",
		    cause);
		ck_assert_ptr_null(strchr(cause, '\n'));
		free(want);
		free(cause);
		cause = NULL;
	}
	git_repository_free(repo);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * Commits, trailers, diffstat, ancestry.
 */

#define SRC_HEX	"4b825dc642cb6eb9a060e54bf8d69288fbee4904"

START_TEST(test_commit_and_message)
{
	git_repository	*repo;
	git_commit	*c = NULL;
	git_oid		 tree, c1, c2, t;
	char		*path, *cause = NULL, *msg = NULL, *v;
	const char	*text = "Promote dev/alice/Hello\n\n"
	    "Promoted-from: dev/alice/Hello@" SRC_HEX "\n"
	    "Promoted-version: 1.2.0\n";

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	write_tree(repo, files_v1, &tree);
	ck_assert_msg(gitops_commit(repo, &tree, NULL, "algopromoted",
	    "promote@example.com", text, &c1, &cause) == 0, "%s", cause);
	ck_assert_int_eq(gitops_commit(repo, &tree, &c1, "algopromoted",
	    "promote@example.com", text, &c2, &cause), 0);

	GOK(git_commit_lookup(&c, repo, &c2));
	ck_assert_uint_eq(git_commit_parentcount(c), 1);
	assert_oid_eq(git_commit_parent_id(c, 0), &c1);
	ck_assert_str_eq(git_commit_author(c)->name, "algopromoted");
	ck_assert_str_eq(git_commit_committer(c)->email,
	    "promote@example.com");
	git_commit_free(c);

	ck_assert_int_eq(gitops_commit_tree(repo, &c2, &t, &cause), 0);
	assert_oid_eq(&t, &tree);
	ck_assert_int_eq(gitops_commit_message(repo, &c2, &msg, &cause), 0);
	ck_assert_str_eq(msg, text);
	v = gitops_trailer(msg, "Promoted-from");
	ck_assert_str_eq(v, "dev/alice/Hello@" SRC_HEX);
	free(v);
	v = gitops_trailer(msg, "Promoted-version");
	ck_assert_str_eq(v, "1.2.0");
	free(v);
	free(msg);

	/* No ref moved. */
	ck_assert_int_eq(ref_id(repo, "refs/heads/master", &t), GIT_ENOTFOUND);

	/* Errors: missing tree, empty message, unknown commit. */
	ck_assert_int_eq(gitops_commit(repo, &c1, NULL, "a", "a@b", text, &t,
	    &cause), -1);
	free(cause);
	ck_assert_int_eq(gitops_commit(repo, &tree, NULL, "a", "a@b", "", &t,
	    &cause), -1);
	free(cause);
	ck_assert_int_eq(gitops_commit_message(repo, &tree, &msg, &cause),
	    -1);
	ck_assert_ptr_null(msg);
	free(cause);
	git_repository_free(repo);
	free(path);
}
END_TEST

static void
trailer_is(const char *msg, const char *key, const char *want)
{
	char	*v = gitops_trailer(msg, key);

	if (want == NULL)
		ck_assert_msg(v == NULL, "\"%s\" in \"%s\": \"%s\"", key, msg,
		    v);
	else {
		ck_assert_msg(v != NULL, "\"%s\" not in \"%s\"", key, msg);
		ck_assert_str_eq(v, want);
	}
	free(v);
}

START_TEST(test_trailers)
{
	const char *std = "Subject\n\nBody text.\n\n"
	    "Promoted-from: dev/alice/Hello@" SRC_HEX "\n"
	    "Promoted-version: 1.2.0\n";

	trailer_is(std, "Promoted-from", "dev/alice/Hello@" SRC_HEX);
	trailer_is(std, "Promoted-version", "1.2.0");
	trailer_is(std, "promoted-VERSION", "1.2.0");
	trailer_is(std, "Promoted", NULL);
	trailer_is(std, "Signed-off-by", NULL);
	/* The last one wins. */
	trailer_is("S\n\nPromoted-version: 1.0.0\nOther: x\n"
	    "Promoted-version: 1.2.0\n", "Promoted-version", "1.2.0");
	/* Only the final paragraph holds trailers. */
	trailer_is("S\n\nPromoted-version: 1.0.0\n\nClosing prose.\n",
	    "Promoted-version", NULL);
	trailer_is("S\n\nPromoted-version: 1.0.0\n\nPromoted-from: a\n",
	    "Promoted-version", NULL);
	/* A subject is no trailer block. */
	trailer_is("Promoted-version: 1.0.0\n", "Promoted-version", NULL);
	/* Prose mixed in: not a trailer block. */
	trailer_is("S\n\nPromoted-version: 1.0.0\nsee above\n",
	    "Promoted-version", NULL);
	/* Layout variants. */
	trailer_is("S\r\n\r\nKey: v\r\n", "Key", "v");
	trailer_is("S\n\nKey:   v  \n\n\n  \n", "Key", "v");
	trailer_is("S\n\nKey:v", "Key", "v");
	trailer_is("S\n\nKey : v\n", "Key", "v");
	trailer_is("S\n\nKey: a\n  b\n\tc\nNext: d\n", "Key", "a b c");
	trailer_is("S\n\nKey:\n", "Key", "");
	trailer_is("S\n\n  Key: v\n", "Key", NULL);
	trailer_is("", "Key", NULL);
	trailer_is(NULL, "Key", NULL);
	trailer_is("S\n\nKey: v\n", "", NULL);
}
END_TEST

static const struct tfile diff_old[] = {
	{ "a.txt", "1\n2\n3\n", 0, 0 },
	{ "b.txt", "x\n", 0, 0 },
	{ "bin.dat", "\x00\x01\x02", 3, 0 },
	{ "run.sh", "echo hi\n", 0, 0 },
	{ "old.txt", "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static const struct tfile diff_new[] = {
	{ "a.txt", "1\nTWO\n3\n4\n", 0, 0 },
	{ "bin.dat", "\x00\x01\x03", 3, 0 },
	{ "c.txt", "new\n", 0, 0 },
	{ "run.sh", "echo hi\n", 0, GIT_FILEMODE_BLOB_EXECUTABLE },
	{ "new.txt", "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n", 0, 0 },
	{ NULL, NULL, 0, 0 }
};

static int
count_lines(const char *s)
{
	int	 n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_diffstat)
{
	git_repository	*repo;
	git_oid		 a, b;
	char		*path, *out = NULL, *cause = NULL;
	size_t		 i;
	const char	*lines[] = {
		" M a.txt (+2 -1, 6 -> 10 bytes)\n",
		" D b.txt (+0 -1, 2 bytes)\n",
		" M bin.dat (binary, 3 -> 3 bytes)\n",
		" A c.txt (+1 -0, 4 bytes)\n",
		" R old.txt -> new.txt (+0 -0, 31 -> 31 bytes)\n",
		" M run.sh (mode 100644 -> 100755, 8 -> 8 bytes)\n",
	};

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	write_tree(repo, diff_old, &a);
	write_tree(repo, diff_new, &b);
	ck_assert_msg(gitops_diffstat(repo, &a, &b, &out, &cause) == 0, "%s",
	    cause);
	ck_assert_msg(strncmp(out, "6 files changed, 3 insertions(+), "
	    "2 deletions(-)\n1 added, 1 removed, 4 changed; 50 bytes -> 56 "
	    "bytes\n", 101) == 0, "%s", out);
	for (i = 0; i < sizeof lines / sizeof lines[0]; i++)
		ck_assert_msg(strstr(out, lines[i]) != NULL, "no \"%s\" in\n%s",
		    lines[i], out);
	ck_assert_int_eq(count_lines(out), 8);
	free(out);

	ck_assert_int_eq(gitops_diffstat(repo, NULL, &a, &out, &cause), 0);
	ck_assert_msg(strncmp(out, "5 files changed, 15 insertions(+), "
	    "0 deletions(-)\n", 48) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, " A old.txt (+10 -0, 31 bytes)\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n5 added, 0 removed, 0 changed; "
	    "0 bytes -> 50 bytes\n"));
	free(out);

	ck_assert_int_eq(gitops_diffstat(repo, &a, &a, &out, &cause), 0);
	ck_assert_str_eq(out, "0 files changed, 0 insertions(+), "
	    "0 deletions(-)\n0 added, 0 removed, 0 changed; 0 bytes -> 0 "
	    "bytes\n");
	free(out);
	git_repository_free(repo);
	free(path);
}
END_TEST

START_TEST(test_is_ancestor)
{
	git_repository	*repo;
	git_oid		 c1, c2, c3, other;
	char		*path, *cause = NULL;
	int		 yes = -1;

	path = xprintf("%s/m.git", tmp);
	repo = bare(path);
	commit_files(repo, NULL, NULL, files_v1, "1\n", &c1);
	commit_files(repo, NULL, &c1, files_v2, "2\n", &c2);
	commit_files(repo, NULL, &c2, files_v1, "3\n", &c3);
	commit_files(repo, NULL, NULL, files_v2, "other\n", &other);

	ck_assert_int_eq(gitops_is_ancestor(repo, &c1, &c3, &yes, &cause), 0);
	ck_assert_int_eq(yes, 1);
	ck_assert_int_eq(gitops_is_ancestor(repo, &c3, &c1, &yes, &cause), 0);
	ck_assert_int_eq(yes, 0);
	ck_assert_int_eq(gitops_is_ancestor(repo, &c2, &c2, &yes, &cause), 0);
	ck_assert_int_eq(yes, 1);
	ck_assert_int_eq(gitops_is_ancestor(repo, &other, &c3, &yes, &cause),
	    0);
	ck_assert_int_eq(yes, 0);
	git_repository_free(repo);
	free(path);
}
END_TEST

/* ---------------------------------------------------------------------
 * Push over the local transport.
 */

struct pushenv {
	char		*dstpath;
	git_repository	*dst;
	git_repository	*mirror;
	git_oid		 d1;
	struct gitops_remote r;
};

static void
pushenv_open(struct pushenv *pe, int with_commit)
{
	char	*mpath, *cause = NULL;
	git_oid	 head;
	int	 found;

	memset(pe, 0, sizeof *pe);
	pe->dstpath = xprintf("%s/dst.git", tmp);
	pe->dst = bare(pe->dstpath);
	if (with_commit)
		commit_files(pe->dst, "refs/heads/master", NULL, files_v1,
		    "d1\n", &pe->d1);
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&pe->mirror, mpath, &cause), 0);
	free(mpath);
	pe->r.url = pe->dstpath;
	pe->r.timeout_ms = 2000;
	ck_assert_msg(gitops_fetch(pe->mirror, &pe->r, "refs/heads/master",
	    "refs/dst/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, with_commit);
}

static void
pushenv_close(struct pushenv *pe)
{
	git_repository_free(pe->mirror);
	git_repository_free(pe->dst);
	free(pe->dstpath);
}

START_TEST(test_push_ok_and_moved)
{
	struct pushenv	 pe;
	git_oid		 tree, c, c2, other, head, got;
	char		*cause = NULL;
	enum gitops_push res;

	pushenv_open(&pe, 1);
	write_tree(pe.mirror, files_v2, &tree);
	ck_assert_int_eq(gitops_commit(pe.mirror, &tree, &pe.d1, "p",
	    "p@example.com", "promote\n", &c, &cause), 0);

	res = gitops_push(pe.mirror, &pe.r, &c, &pe.d1, "refs/heads/master",
	    &head, &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	assert_oid_eq(&head, &c);
	GOK(ref_id(pe.dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c);
	/* The scratch ref is gone again. */
	ck_assert_int_eq(ref_id(pe.mirror, GITOPS_PENDING_REF, &got),
	    GIT_ENOTFOUND);

	/* Pushing the same again on the old base: it has landed. */
	cause = NULL;
	res = gitops_push(pe.mirror, &pe.r, &c, &pe.d1, "refs/heads/master",
	    &head, &cause);
	ck_assert_int_eq(res, GITOPS_PUSH_MOVED);
	ck_assert_ptr_null(cause);
	assert_oid_eq(&head, &c);

	/* Someone else pushes: ours, built on c, must not land. */
	commit_files(pe.dst, "refs/heads/master", &c, files_v1, "other\n",
	    &other);
	ck_assert_int_eq(gitops_commit(pe.mirror, &tree, &c, "p",
	    "p@example.com", "promote 2\n", &c2, &cause), 0);
	res = gitops_push(pe.mirror, &pe.r, &c2, &c, "refs/heads/master",
	    &head, &cause);
	ck_assert_int_eq(res, GITOPS_PUSH_MOVED);
	assert_oid_eq(&head, &other);
	GOK(ref_id(pe.dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &other);

	/* expect NULL, yet the ref exists. */
	res = gitops_push(pe.mirror, &pe.r, &c2, NULL, "refs/heads/master",
	    &head, &cause);
	ck_assert_int_eq(res, GITOPS_PUSH_MOVED);
	assert_oid_eq(&head, &other);

	/* expect set, yet the ref is absent: zeros. */
	res = gitops_push(pe.mirror, &pe.r, &c2, &c, "refs/heads/gone",
	    &head, &cause);
	ck_assert_int_eq(res, GITOPS_PUSH_MOVED);
	ck_assert(git_oid_is_zero(&head));
	pushenv_close(&pe);
}
END_TEST

START_TEST(test_push_new_ref_and_nonff)
{
	struct pushenv	 pe;
	git_oid		 tree, c, root, head, got;
	char		*cause = NULL;
	enum gitops_push res;

	/* Into an empty repository: expect NULL. */
	pushenv_open(&pe, 0);
	write_tree(pe.mirror, files_v1, &tree);
	ck_assert_int_eq(gitops_commit(pe.mirror, &tree, NULL, "p",
	    "p@example.com", "first\n", &c, &cause), 0);
	res = gitops_push(pe.mirror, &pe.r, &c, NULL, "refs/heads/master",
	    &head, &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	GOK(ref_id(pe.dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c);

	/* A commit that is not on top of the remote head (a caller bug):
	 * libgit2's own fast-forward check answers, mapped to MOVED. */
	write_tree(pe.mirror, files_v2, &tree);
	ck_assert_int_eq(gitops_commit(pe.mirror, &tree, NULL, "p",
	    "p@example.com", "unrelated root\n", &root, &cause), 0);
	res = gitops_push(pe.mirror, &pe.r, &root, &c, "refs/heads/master",
	    &head, &cause);
	ck_assert_msg(res == GITOPS_PUSH_MOVED, "%d %s", res,
	    res == GITOPS_PUSH_MOVED ? "" : cause);
	assert_oid_eq(&head, &c);
	GOK(ref_id(pe.dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c);
	pushenv_close(&pe);
}
END_TEST

START_TEST(test_cancel_before_start)
{
	atomic_int		 cancel = 1;
	struct gitops_remote	 r = { .timeout_ms = 2000, .cancel = &cancel };
	git_repository		*src, *mirror = NULL;
	git_oid			 c1, head;
	char			*srcpath, *mpath, *cause = NULL;
	int			 found = -1;

	srcpath = xprintf("%s/src.git", tmp);
	src = bare(srcpath);
	commit_files(src, "refs/heads/master", NULL, files_v1, "one\n", &c1);
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	r.url = srcpath;
	ck_assert_int_eq(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause), -1);
	ck_assert_int_eq(found, 0);
	ck_assert_msg(strstr(cause, "cancelled") != NULL, "%s", cause);
	free(cause);
	ck_assert_int_eq(gitops_push(mirror, &r, &c1, NULL,
	    "refs/heads/master", &head, &cause), GITOPS_PUSH_ERROR);
	ck_assert_msg(strstr(cause, "cancelled") != NULL, "%s", cause);
	free(cause);

	cancel = 0;
	ck_assert_int_eq(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause), 0);
	ck_assert_int_eq(found, 1);
	git_repository_free(mirror);
	git_repository_free(src);
	free(mpath);
	free(srcpath);
}
END_TEST

/* ---------------------------------------------------------------------
 * Sockets that never answer.
 */

static int
listen_on(const char *addr, int *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return -1;
	}
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Did anyone connect to the listening socket fd? */
static int
was_contacted(int fd)
{
	int	 c;

	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	c = accept(fd, NULL, NULL);
	if (c == -1) {
		ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "%s",
		    strerror(errno));
		return 0;
	}
	close(c);
	return 1;
}

START_TEST(test_timeout_silent_server)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 500 };
	git_oid			 head;
	uint64_t		 start, took;
	char			*url, *cause = NULL;
	int			 fd, port, found;

	/* The kernel completes the handshake; nobody ever answers. */
	fd = listen_on("127.0.0.1", &port);
	ck_assert_int_ge(fd, 0);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	took = monotime_ms() - start;
	ck_assert_msg(took >= 450 && took < 3000, "took %llu ms",
	    (unsigned long long)took);
	ck_assert_msg(strstr(cause, "timed out") != NULL &&
	    strncmp(cause, "ls http://127.0.0.1:", 20) == 0, "%s", cause);
	assert_no_secret(cause, "alice", KEY_ALICE);
	free(cause);
	close(fd);
	free(url);
}
END_TEST

struct canceller {
	int		 lfd;
	int		 cfd;
	atomic_int	*flag;
};

/* Cancels the operation as soon as it has connected. */
static void *
canceller_run(void *arg)
{
	struct canceller	*c = arg;

	c->cfd = accept(c->lfd, NULL, NULL);
	atomic_store(c->flag, 1);
	return NULL;
}

START_TEST(test_cancel_while_waiting)
{
	atomic_int		 cancel = 0;
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 20000, .cancel = &cancel };
	struct canceller	 c;
	pthread_t		 t;
	git_oid			 head;
	uint64_t		 start, took;
	char			*url, *cause = NULL;
	int			 port, found;

	c.lfd = listen_on("127.0.0.1", &port);
	ck_assert_int_ge(c.lfd, 0);
	c.cfd = -1;
	c.flag = &cancel;
	ck_assert_int_eq(pthread_create(&t, NULL, canceller_run, &c), 0);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	took = monotime_ms() - start;
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&cancel), 1);
	/* Far below the 20 s timeout: a slice or two after the flag. */
	ck_assert_msg(took < 3000, "took %llu ms", (unsigned long long)took);
	ck_assert_msg(strstr(cause, "cancelled") != NULL, "%s", cause);
	free(cause);
	close(c.cfd);
	close(c.lfd);
	free(url);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 2000 };
	git_oid			 head;
	char			*url, *cause = NULL;
	int			 fd, port, found;

	/* A port that was just free: nobody listens there any more. */
	fd = listen_on("127.0.0.1", &port);
	close(fd);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "refused") != NULL, "%s", cause);
	free(cause);
	free(url);
}
END_TEST

/* Refused every time: one retry fits a 2.5 s budget (1 s wait), the
 * next (2 s more) does not, so it stops well inside it. */
START_TEST(test_retry_budget)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 2000, .retries = 10, .retry_budget_ms = 2500 };
	git_oid			 head;
	uint64_t		 start, took;
	char			*url, *cause = NULL;
	int			 fd, port, found;

	fd = listen_on("127.0.0.1", &port);
	close(fd);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	took = monotime_ms() - start;
	ck_assert_msg(took >= 850 && took < 2500, "took %llu ms",
	    (unsigned long long)took);
	ck_assert_msg(strstr(cause, "refused") != NULL &&
	    strstr(cause, "(after 2 tries)") != NULL, "%s", cause);
	assert_no_secret(cause, "alice", KEY_ALICE);
	free(cause);
	free(url);
}
END_TEST

/* Stops the tries from the second on, as an open breaker does. */
static int
halt_at_once(void *arg, char *why, size_t len)
{
	int	*asked = arg;

	(*asked)++;
	snprintf(why, len, "cluster dev is failing");
	return 1;
}

/* A halt hook asked before the first retry ends the step there. */
START_TEST(test_retry_halted)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 2000, .retries = 10, .halt = halt_at_once };
	git_oid			 head;
	uint64_t		 start, took;
	char			*url, *cause = NULL;
	int			 fd, port, found, asked = 0;

	fd = listen_on("127.0.0.1", &port);
	close(fd);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	r.halt_arg = &asked;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	took = monotime_ms() - start;
	/* No backoff wait (1 s) was slept. */
	ck_assert_msg(took < 800, "took %llu ms", (unsigned long long)took);
	ck_assert_int_eq(asked, 1);
	ck_assert_msg(strstr(cause, "refused") != NULL &&
	    strstr(cause, " (not tried again: cluster dev is failing)") !=
	    NULL, "%s", cause);
	free(cause);
	free(url);
}
END_TEST

struct late_cancel {
	atomic_int	*flag;
	unsigned int	 after_ms;
};

static void *
late_cancel_run(void *arg)
{
	struct late_cancel	*lc = arg;

	usleep(lc->after_ms * 1000);
	atomic_store(lc->flag, 1);
	return NULL;
}

/* A cancel during the wait between tries ends it within a slice. */
START_TEST(test_retry_cancel_in_wait)
{
	atomic_int		 cancel = 0;
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 2000, .cancel = &cancel, .retries = 5 };
	struct late_cancel	 lc = { &cancel, 300 };
	pthread_t		 t;
	git_oid			 head;
	uint64_t		 start, took;
	char			*url, *cause = NULL;
	int			 fd, port, found;

	fd = listen_on("127.0.0.1", &port);
	close(fd);
	url = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", port);
	r.url = url;
	ck_assert_int_eq(pthread_create(&t, NULL, late_cancel_run, &lc), 0);
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	took = monotime_ms() - start;
	pthread_join(t, NULL);
	ck_assert_msg(took >= 250 && took < 700, "took %llu ms",
	    (unsigned long long)took);
	ck_assert_msg(strstr(cause, "ls http://127.0.0.1:") == cause &&
	    strstr(cause, ": cancelled") != NULL, "%s", cause);
	free(cause);
	free(url);
}
END_TEST

/* ---------------------------------------------------------------------
 * A real smart-HTTP server: git-http-backend behind basic auth.
 */

static struct testutil_server	 http_srv = { .pid = -1 };
static char			*srv_log;

static void
server_start(void)
{
	char	*script, *errlog;

	http_srv.dir = testutil_tmpdir();
	srv_log = xprintf("%s/requests.log", http_srv.dir);
	errlog = xprintf("%s/stderr.log", http_srv.dir);
	script = xprintf("%s/tests/fakes/gitops_http_server.py", testutil_srcdir());
	{
		char *const argv[] = { S("python3"), script, S("--root"),
		    http_srv.dir, S("--user"), S("alice:" KEY_ALICE),
		    S("--user"), S("bob:" KEY_BOB), S("--log"), srv_log,
		    NULL };

		http_srv.port = testutil_spawn(argv, errlog, &http_srv.pid);
	}
	free(errlog);
	free(script);
}

static void
server_stop(void)
{
	testutil_server_stop(&http_srv);
	free(srv_log);
}

/* A repository on the server, and its URL. */
static git_repository *
server_repo(const char *name, char **url)
{
	git_repository	*repo;
	char		*path;

	ck_assert_msg(http_srv.port > 0, "the test HTTP server did not start");
	path = xprintf("%s/git/alice/%s.git", http_srv.dir, name);
	repo = bare(path);
	*url = xprintf("http://127.0.0.1:%d/git/alice/%s.git", http_srv.port,
	    name);
	free(path);
	return repo;
}

/* Requests the server logged for paths containing what, and how many of
 * those it answered 401. */
static int
server_requests(const char *what, int *unauthorised)
{
	char	*log, *line, *save = NULL;
	int	 n = 0;

	*unauthorised = 0;
	if (access(srv_log, F_OK) != 0)
		return 0;
	log = testutil_read(srv_log);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, what) == NULL)
			continue;
		n++;
		if (strstr(line, " 401 ") != NULL)
			(*unauthorised)++;
	}
	free(log);
	return n;
}

static const char *scan_needles[3];

static int
scan_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	char	*data;
	FILE	*f;
	size_t	 i, n;

	if (flag != FTW_F)
		return 0;
	data = xmalloc((size_t)sb->st_size + 1);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	n = fread(data, 1, (size_t)sb->st_size, f);
	fclose(f);
	for (i = 0; i < 3; i++)
		ck_assert_msg(memmem(data, n, scan_needles[i],
		    strlen(scan_needles[i])) == NULL, "secret in %s", path);
	free(data);
	return 0;
}

/* No file under dir holds the key, raw, %-encoded or as a Basic token. */
static void
assert_dir_clean(const char *dir, const char *user, const char *key)
{
	char	*pct, *pair, *b64;

	pct = redact_pct_encode(key);
	pair = xprintf("%s:%s", user, key);
	b64 = redact_base64(pair, strlen(pair));
	scan_needles[0] = key;
	scan_needles[1] = pct;
	scan_needles[2] = b64;
	ck_assert_int_eq(nftw(dir, scan_file, 16, FTW_PHYS), 0);
	free(b64);
	free(pair);
	free(pct);
}

START_TEST(test_http_promotion_cycle)
{
	char *const keep[] = { S("README.md"), NULL };
	struct gitops_remote	 rs = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000 };
	struct gitops_remote	 rd;
	struct gitops_treespec	 spec = { NULL, keep, "alice",
	    "HelloProd", NULL, NULL };
	git_repository		*src, *dst, *mirror = NULL;
	git_oid			 s1, s2, head, tree, c1, c2, got, dhead;
	char			*surl, *durl, *mpath, *cause = NULL;
	int			 found, n, n401;
	enum gitops_push	 res;

	src = server_repo("Hello", &surl);
	dst = server_repo("HelloProd", &durl);
	commit_files(src, "refs/heads/master", NULL, files_v1, "v1\n", &s1);
	rs.url = surl;
	rd = rs;
	rd.url = durl;
	mpath = xprintf("%s/mirrors/alice/HelloProd", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);

	/* First promotion into an empty destination. */
	ck_assert_msg(gitops_fetch(mirror, &rs, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &s1);
	ck_assert_msg(gitops_fetch(mirror, &rd, "refs/heads/master",
	    "refs/dst/master", &dhead, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 0);
	ck_assert_int_eq(gitops_make_tree(mirror, &s1, NULL, &spec, &tree,
	    &cause), 0);
	ck_assert_int_eq(gitops_commit(mirror, &tree, NULL, "algopromoted",
	    "p@example.com", "Promote\n\nPromoted-version: 1.0.0\n", &c1,
	    &cause), 0);
	res = gitops_push(mirror, &rd, &c1, NULL, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	GOK(ref_id(dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c1);

	/* Second, incremental. */
	commit_files(src, "refs/heads/master", &s1, files_v2, "v2\n", &s2);
	ck_assert_int_eq(gitops_fetch(mirror, &rs, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause), 0);
	assert_oid_eq(&head, &s2);
	ck_assert_int_eq(gitops_fetch(mirror, &rd, "refs/heads/master",
	    "refs/dst/master", &dhead, &found, &cause), 0);
	assert_oid_eq(&dhead, &c1);
	ck_assert_int_eq(gitops_make_tree(mirror, &s2, &dhead, &spec, &tree,
	    &cause), 0);
	ck_assert_int_eq(gitops_commit(mirror, &tree, &dhead, "algopromoted",
	    "p@example.com", "Promote 2\n", &c2, &cause), 0);
	res = gitops_push(mirror, &rd, &c2, &dhead, "refs/heads/master",
	    &head, &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	ck_assert_int_eq(gitops_ls(&rd, "refs/heads/master", &head, &found,
	    &cause), 0);
	assert_oid_eq(&head, &c2);

	/* The Authorization header went first: not one 401. */
	n = server_requests("/git/alice/", &n401);
	ck_assert_int_ge(n, 8);
	ck_assert_int_eq(n401, 0);

	/* The key is in no file of the mirror. */
	assert_dir_clean(mpath, "alice", KEY_ALICE);

	git_repository_free(mirror);
	git_repository_free(dst);
	git_repository_free(src);
	free(mpath);
	free(durl);
	free(surl);
}
END_TEST

/* A wrong key fails fast and bounded, and never shows in the cause. */
static void
wrong_key(const char *name, const char *prefix, int exact)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_WRONG,
	    .timeout_ms = 5000 };
	git_repository		*src, *mirror = NULL;
	git_oid			 s1, head;
	uint64_t		 start;
	char			*url, *surl, *mpath, *cause = NULL, *path;
	int			 found, n, n401;

	src = server_repo(name, &surl);
	commit_files(src, "refs/heads/master", NULL, files_v1, "v1\n", &s1);
	url = xprintf("http://127.0.0.1:%d%s/git/alice/%s.git", http_srv.port,
	    prefix, name);
	path = xprintf("/%s.git", name);
	r.url = url;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(monotime_ms() - start < 5000, "slow failure");
	ck_assert_msg(strstr(cause, "authentication failed for ") != NULL &&
	    strstr(cause, path) != NULL, "%s", cause);
	assert_no_secret(cause, "alice", KEY_WRONG);
	free(cause);

	/* Bounded: the header, then at most GITOPS_AUTH_TRIES retries. */
	n = server_requests(path, &n401);
	ck_assert_int_eq(n, n401);
	if (exact)
		ck_assert_int_eq(n401, 1 + GITOPS_AUTH_TRIES);
	else {
		ck_assert_int_ge(n401, 1);
		ck_assert_int_le(n401, 1 + GITOPS_AUTH_TRIES);
	}

	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	ck_assert_int_eq(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause), -1);
	ck_assert_ptr_nonnull(strstr(cause, "authentication failed"));
	assert_no_secret(cause, "alice", KEY_WRONG);
	free(cause);
	assert_dir_clean(mpath, "alice", KEY_WRONG);

	git_repository_free(mirror);
	git_repository_free(src);
	free(mpath);
	free(surl);
	free(path);
	free(url);
}

/* The credential callback's bound ends it. */
START_TEST(test_http_wrong_key)
{
	wrong_key("WrongKey", "", 1);
}
END_TEST

/* A 401 body without a Content-Type: libgit2 1.5 fails on the retry with
 * "http parser error"; still an authentication failure to us. */
START_TEST(test_http_wrong_key_bare_401)
{
	wrong_key("WrongKeyBare", "/bare401", 0);
}
END_TEST

/* A pushable server repository name at d1 (in *dst, URL *url) and a
 * mirror of it at *mpath holding a commit *c on top of d1. */
static void
push_setup(const char *name, const struct gitops_remote *r0,
    git_repository **dst, git_repository **mirror, git_oid *d1, git_oid *c,
    char **url, char **mpath)
{
	struct gitops_remote	 r = *r0;
	git_oid			 head, tree;
	char			*cause = NULL;
	int			 found;

	*dst = server_repo(name, url);
	commit_files(*dst, "refs/heads/master", NULL, files_v1, "d1\n", d1);
	r.url = *url;
	*mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(mirror, *mpath, &cause), 0);
	ck_assert_int_eq(gitops_fetch(*mirror, &r, "refs/heads/master",
	    "refs/dst/master", &head, &found, &cause), 0);
	write_tree(*mirror, files_v2, &tree);
	ck_assert_int_eq(gitops_commit(*mirror, &tree, d1, "p",
	    "p@example.com", "promote\n", c, &cause), 0);
}

START_TEST(test_http_rejected_by_hook)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000 };
	git_repository		*dst, *mirror = NULL;
	git_oid			 d1, head, c, got;
	char			*url, *mpath, *hook, *cause = NULL;
	enum gitops_push	 res;

	push_setup("Frozen", &r, &dst, &mirror, &d1, &c, &url, &mpath);
	hook = xprintf("%s/git/alice/Frozen.git/hooks/pre-receive",
	    http_srv.dir);
	testutil_write(hook, "#!/bin/sh\n"
	    "echo 'policy: Frozen takes no pushes today' >&2\nexit 1\n", 0755);
	r.url = url;

	res = gitops_push(mirror, &r, &c, &d1, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_REJECTED, "%d %s", res, cause);
	ck_assert_msg(strstr(cause, "rejected: pre-receive hook declined") !=
	    NULL && strstr(cause, "Frozen takes no pushes today") != NULL,
	    "%s", cause);
	assert_no_secret(cause, "alice", KEY_ALICE);
	free(cause);
	GOK(ref_id(dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &d1);
	ck_assert_int_eq(ref_id(mirror, GITOPS_PENDING_REF, &got),
	    GIT_ENOTFOUND);

	git_repository_free(mirror);
	git_repository_free(dst);
	free(hook);
	free(mpath);
	free(url);
}
END_TEST

START_TEST(test_http_no_offsite_redirect)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 3000 };
	git_oid			 head;
	char			*url, *cause = NULL;
	int			 other, port, same, sport, found;

	ck_assert_msg(http_srv.port > 0, "the test HTTP server did not start");

	/* Another port of the same host: libgit2 would follow it. */
	same = listen_on("127.0.0.1", &sport);
	url = xprintf("http://127.0.0.1:%d/redirect/127.0.0.1:%d/git/alice/"
	    "R.git", http_srv.port, sport);
	r.url = url;
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "refusing to connect") != NULL, "%s",
	    cause);
	ck_assert_int_eq(was_contacted(same), 0);
	free(cause);
	free(url);
	close(same);

	/* Another host. */
	if ((other = listen_on("127.0.0.2", &port)) == -1)
		return;		/* no 127.0.0.2 here */
	url = xprintf("http://127.0.0.1:%d/redirect/127.0.0.2:%d/git/alice/"
	    "R.git", http_srv.port, port);
	r.url = url;
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_int_eq(was_contacted(other), 0);
	assert_no_secret(cause, "alice", KEY_ALICE);
	free(cause);
	free(url);
	close(other);
}
END_TEST

/* ---------------------------------------------------------------------
 * Retries against injected faults (the server's /fault/ prefix).
 */

/* The URL of repository name through a fault: the first n requests with
 * method get what. */
static char *
fault_url(const char *id, const char *method, int n, const char *what,
    const char *name)
{
	return xprintf("http://127.0.0.1:%d/fault/%s/%s/%d/%s/git/alice/%s.git",
	    http_srv.port, id, method, n, what, name);
}

/* A 500, then a dropped answer: each is tried again after about 1 s. */
START_TEST(test_http_retry_transient)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000, .retries = 3, .retry_budget_ms = 10000 };
	git_repository		*src, *mirror = NULL;
	git_oid			 s1, head;
	uint64_t		 start, took;
	char			*surl, *url, *mpath, *cause = NULL;
	int			 found, n, n401;

	src = server_repo("Flaky", &surl);
	commit_files(src, "refs/heads/master", NULL, files_v1, "v1\n", &s1);

	url = fault_url("ls500", "GET", 1, "500", "Flaky");
	r.url = url;
	start = monotime_ms();
	ck_assert_msg(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause) == 0, "%s", cause);
	took = monotime_ms() - start;
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &s1);
	ck_assert_msg(took >= 850 && took < 3000, "took %llu ms",
	    (unsigned long long)took);
	ck_assert_int_eq(server_requests("/ls500/", &n401), 2);
	free(url);

	/* The upload-pack POST's answer cut off: the fetch goes again. */
	url = fault_url("fetchdrop", "POST", 1, "drop", "Flaky");
	r.url = url;
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);
	ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/src/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &s1);
	n = server_requests("/fetchdrop/", &n401);
	ck_assert_msg(n >= 3, "%d requests", n);

	git_repository_free(mirror);
	git_repository_free(src);
	free(mpath);
	free(url);
	free(surl);
}
END_TEST

/* 404 and 401 are final: one attempt, at once. */
START_TEST(test_http_permanent_not_retried)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000, .retries = 5 };
	git_repository		*src;
	git_oid			 s1, head;
	uint64_t		 start;
	char			*surl, *url, *cause = NULL;
	int			 found, n401;

	src = server_repo("Final", &surl);
	commit_files(src, "refs/heads/master", NULL, files_v1, "v1\n", &s1);

	url = fault_url("gone404", "ANY", 100, "404", "Final");
	r.url = url;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(monotime_ms() - start < 800, "slow failure");
	ck_assert_msg(strstr(cause, "404") != NULL &&
	    strstr(cause, "tries") == NULL, "%s", cause);
	ck_assert_int_eq(server_requests("/gone404/", &n401), 1);
	free(cause);
	free(url);

	r.url = surl;
	r.key = KEY_WRONG;
	start = monotime_ms();
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(monotime_ms() - start < 800, "slow failure");
	ck_assert_msg(strstr(cause, "authentication failed") != NULL, "%s",
	    cause);
	ck_assert_int_eq(server_requests("GET /git/alice/Final.git", &n401),
	    1 + GITOPS_AUTH_TRIES);
	ck_assert_int_eq(n401, 1 + GITOPS_AUTH_TRIES);
	free(cause);

	git_repository_free(src);
	free(surl);
}
END_TEST

/* A push goes again when its ls failed, never once its upload was sent:
 * that may have landed. */
START_TEST(test_http_push_retry)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000, .retries = 3, .retry_budget_ms = 10000 };
	git_repository		*dst, *mirror = NULL;
	git_oid			 d1, head, c, got;
	char			*durl, *url, *mpath, *cause = NULL;
	int			 n401;
	enum gitops_push	 res;

	push_setup("PushFlaky", &r, &dst, &mirror, &d1, &c, &durl, &mpath);

	/* The receive-pack POST answered 500: returned at once, as a push
	 * that may have landed. */
	url = fault_url("post500", "POST", 1, "500", "PushFlaky");
	r.url = url;
	res = gitops_push(mirror, &r, &c, &d1, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_UNKNOWN, "%d", res);
	ck_assert_msg(strstr(cause, "500") != NULL &&
	    strstr(cause, "tries") == NULL, "%s", cause);
	ck_assert_int_eq(server_requests("/post500/", &n401), 2);
	GOK(ref_id(dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &d1);
	free(cause);
	free(url);

	/* The advertisement answered 503: nothing sent, so again. */
	url = fault_url("get503", "GET", 1, "503", "PushFlaky");
	r.url = url;
	res = gitops_push(mirror, &r, &c, &d1, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res,
	    res != GITOPS_PUSH_OK ? cause : "");
	assert_oid_eq(&head, &c);
	GOK(ref_id(dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c);
	ck_assert_int_eq(server_requests("/get503/", &n401), 3);

	git_repository_free(mirror);
	git_repository_free(dst);
	free(mpath);
	free(url);
	free(durl);
}
END_TEST

/* ---------------------------------------------------------------------
 * The same server over https: libgit2's mbedTLS stream on top of ours.
 */

static struct testutil_server	 tls_srv;

/* A host name: libgit2 1.5 with mbedTLS matches no IP SAN. */
static void
tls_start(void)
{
	testutil_tlsgit_start(&tls_srv, "DNS:localhost", "alice:" KEY_ALICE);
}

static void
tls_stop(void)
{
	testutil_server_stop(&tls_srv);
}

static git_repository *
tls_repo(const char *name, char **url)
{
	git_repository	*repo;
	char		*path;

	ck_assert_msg(tls_srv.port > 0, "the test https server did not start");
	path = xprintf("%s/git/alice/%s.git", tls_srv.dir, name);
	repo = bare(path);
	*url = xprintf("https://localhost:%d/git/alice/%s.git", tls_srv.port,
	    name);
	free(path);
	return repo;
}

START_TEST(test_https_fetch_push)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000 };
	git_repository		*dst, *mirror = NULL;
	git_oid			 d1, head, tree, c, got;
	char			*url, *mpath, *cause = NULL;
	int			 found;
	enum gitops_push	 res;

	dst = tls_repo("Secure", &url);
	commit_files(dst, "refs/heads/master", NULL, files_v1, "d1\n", &d1);
	r.url = url;
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);

	/* Not trusted yet: a certificate error, promptly. */
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "certificate") != NULL, "%s", cause);
	free(cause);

	GOK(git_libgit2_opts(GIT_OPT_SET_SSL_CERT_LOCATIONS, tls_srv.cert,
	    NULL));
	ck_assert_msg(gitops_fetch(mirror, &r, "refs/heads/master",
	    "refs/dst/master", &head, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &d1);
	write_tree(mirror, files_v2, &tree);
	ck_assert_int_eq(gitops_commit(mirror, &tree, &d1, "p",
	    "p@example.com", "promote\n", &c, &cause), 0);
	res = gitops_push(mirror, &r, &c, &d1, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	GOK(ref_id(dst, "refs/heads/master", &got));
	assert_oid_eq(&got, &c);
	assert_dir_clean(mpath, "alice", KEY_ALICE);

	git_repository_free(mirror);
	git_repository_free(dst);
	free(mpath);
	free(url);
}
END_TEST

/* A cluster's ca_file, trusted through gitops_trust(): the transfer
 * works, and the bundle holds the CA, private to the daemon. */
START_TEST(test_https_trust_ca_file)
{
	struct gitops_remote	 r = { .user = "alice", .key = KEY_ALICE,
	    .timeout_ms = 5000 };
	git_repository		*dst;
	git_oid			 d1, head;
	char			*url, *bundle, *cause = NULL, *pem, *text;
	char			*files[2] = { NULL, NULL };
	struct stat		 sb;
	int			 found;

	dst = tls_repo("Trusted", &url);
	commit_files(dst, "refs/heads/master", NULL, files_v1, "d1\n", &d1);
	r.url = url;
	ck_assert_int_eq(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "certificate") != NULL, "%s", cause);
	free(cause);
	cause = NULL;

	bundle = xprintf("%s/ca-bundle.pem", tmp);
	ck_assert_int_eq(gitops_trust(files, bundle, &cause), 0);
	ck_assert_int_eq(access(bundle, F_OK), -1);	/* none: no bundle */
	files[0] = tls_srv.cert;
	ck_assert_msg(gitops_trust(files, bundle, &cause) == 0, "%s", cause);
	ck_assert_msg(gitops_ls(&r, "refs/heads/master", &head, &found,
	    &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	assert_oid_eq(&head, &d1);
	pem = testutil_read(tls_srv.cert);
	text = testutil_read(bundle);
	ck_assert_ptr_nonnull(strstr(text, pem));
	ck_assert_int_eq(stat(bundle, &sb), 0);
	ck_assert_int_eq(sb.st_mode & 0777, 0600);

	files[0] = xprintf("%s/missing.pem", tmp);
	ck_assert_int_eq(gitops_trust(files, bundle, &cause), -1);
	ck_assert_msg(strstr(cause, "ca_file: ") != NULL &&
	    strstr(cause, "missing.pem") != NULL, "%s", cause);
	free(cause);
	free(files[0]);
	free(text);
	free(pem);
	free(bundle);
	git_repository_free(dst);
	free(url);
}
END_TEST

/* ---------------------------------------------------------------------
 * The emulated Algorithmia cluster (tests/fakes/fakecluster), when present.
 */

static struct testutil_server	 fc_srv;

static void
fc_start(void)
{
	testutil_fc_start(&fc_srv, "0.2");
}

static void
fc_stop(void)
{
	testutil_server_stop(&fc_srv);
}

static void
fc_create(const char *algo)
{
	char	*body;
	long	 status;

	body = xprintf("{\"name\": \"%s\", \"details\": {\"label\": "
	    "\"%s\"}, \"settings\": {\"language\": \"python3\", "
	    "\"environment\": \"cpu\"}}", algo, algo);
	status = testutil_fc_call(&fc_srv, "POST", "/v1/algorithms/alice",
	    body, NULL);
	ck_assert_int_eq(status, 200);
	free(body);
}

START_TEST(test_fakecluster_promotion)
{
	struct gitops_remote	 rs = { .user = "alice", .key = TESTUTIL_FC_KEY,
	    .timeout_ms = 5000 };
	struct gitops_remote	 rd;
	struct gitops_treespec	 spec = { NULL, NULL, "alice", "HelloProd", NULL, NULL };
	git_repository		*mirror = NULL;
	git_oid			 s1, d1, tree, c, c2, head;
	char			*surl, *durl, *mpath, *cause = NULL, *log, *conf;
	int			 found;
	enum gitops_push	 res;

	if (fc_srv.port == 0) {
		ck_assert_msg(access("tests/fakes/fakecluster/fakecluster.py",
		    F_OK) != 0, "fakecluster.py is there but did not start");
		return;		/* not in this tree */
	}
	fc_create("Hello");
	fc_create("HelloProd");
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "POST", "/_reset", "{}",
	    NULL), 204);
	surl = xprintf("http://127.0.0.1:%d/git/alice/Hello.git", fc_srv.port);
	durl = xprintf("http://127.0.0.1:%d/git/alice/HelloProd.git",
	    fc_srv.port);
	rs.url = surl;
	rd = rs;
	rd.url = durl;
	mpath = xprintf("%s/mirror", tmp);
	ck_assert_int_eq(gitops_mirror_open(&mirror, mpath, &cause), 0);

	/* Both start with the template commit. */
	ck_assert_msg(gitops_fetch(mirror, &rs, "refs/heads/master",
	    "refs/src/master", &s1, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	ck_assert_msg(gitops_fetch(mirror, &rd, "refs/heads/master",
	    "refs/dst/master", &d1, &found, &cause) == 0, "%s", cause);
	ck_assert_int_eq(found, 1);
	ck_assert_int_eq(gitops_make_tree(mirror, &s1, &d1, &spec, &tree,
	    &cause), 0);
	conf = blob_at(mirror, &tree, "algorithmia.conf");
	ck_assert_msg(strstr(conf, "\"algoname\": \"HelloProd\"") != NULL &&
	    strstr(conf, "\"username\": \"alice\"") != NULL, "%s", conf);
	free(conf);
	ck_assert_int_eq(gitops_commit(mirror, &tree, &d1, "algopromoted",
	    "p@example.com", "Promote\n\nPromoted-version: 0.1.0\n", &c,
	    &cause), 0);
	res = gitops_push(mirror, &rd, &c, &d1, "refs/heads/master", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_OK, "%d %s", res, cause);
	ck_assert_int_eq(gitops_ls(&rd, "refs/heads/master", &head, &found,
	    &cause), 0);
	assert_oid_eq(&head, &c);

	/* Every git request carried the key up front: no 401. */
	ck_assert_int_eq(testutil_fc_call(&fc_srv, "GET", "/_requests", NULL,
	    &log), 200);
	ck_assert_msg(strstr(log, "/git/alice/HelloProd.git") != NULL &&
	    strstr(log, "\"status\": 401") == NULL &&
	    strstr(log, "\"auth\": false") == NULL, "%s", log);
	free(log);

	/* The cluster's hook refuses other branches, with its reason. */
	ck_assert_int_eq(gitops_commit(mirror, &tree, &c, "algopromoted",
	    "p@example.com", "side\n", &c2, &cause), 0);
	res = gitops_push(mirror, &rd, &c2, NULL, "refs/heads/side", &head,
	    &cause);
	ck_assert_msg(res == GITOPS_PUSH_REJECTED, "%d %s", res, cause);
	ck_assert_msg(strstr(cause, "only pushes to master are accepted") !=
	    NULL, "%s", cause);
	free(cause);
	cause = NULL;

	/* A wrong key. */
	rd.key = KEY_WRONG;
	ck_assert_int_eq(gitops_ls(&rd, "refs/heads/master", &head, &found,
	    &cause), -1);
	ck_assert_msg(strstr(cause, "authentication failed") != NULL, "%s",
	    cause);
	assert_no_secret(cause, "alice", KEY_WRONG);
	free(cause);

	assert_dir_clean(mpath, "alice", TESTUTIL_FC_KEY);
	git_repository_free(mirror);
	free(mpath);
	free(durl);
	free(surl);
}
END_TEST

Suite *
gitops_suite(void)
{
	Suite	*s = suite_create("gitops");
	TCase	*local = tcase_create("local");
	TCase	*net = tcase_create("net");
	TCase	*http = tcase_create("http");
	TCase	*fake = tcase_create("fakecluster");
	TCase	*https = tcase_create("https");

	tcase_add_checked_fixture(local, setup, teardown);
	tcase_set_timeout(local, 30);
	tcase_add_test(local, test_mirror_open);
	tcase_add_test(local, test_mirror_pack_settings);
	tcase_add_test(local, test_fetch_fresh_and_incremental);
	tcase_add_test(local, test_maintain_repacks_reachable_objects);
	tcase_add_test(local, test_fetch_empty_remote);
	tcase_add_test(local, test_ls_and_bad_remote);
	tcase_add_test(local, test_make_tree_exact);
	tcase_add_test(local, test_make_tree_plain_copy);
	tcase_add_test(local, test_make_tree_replaces_a_root_file);
	tcase_add_test(local, test_conf_rewrite);
	tcase_add_test(local, test_make_tree_conflicts_and_errors);
	tcase_add_test(local, test_make_tree_hostile_names);
	tcase_add_test(local, test_commit_and_message);
	tcase_add_test(local, test_trailers);
	tcase_add_test(local, test_diffstat);
	tcase_add_test(local, test_is_ancestor);
	tcase_add_test(local, test_push_ok_and_moved);
	tcase_add_test(local, test_push_new_ref_and_nonff);
	tcase_add_test(local, test_cancel_before_start);
	suite_add_tcase(s, local);

	tcase_add_checked_fixture(net, setup, teardown);
	tcase_set_timeout(net, 30);
	tcase_add_test(net, test_timeout_silent_server);
	tcase_add_test(net, test_cancel_while_waiting);
	tcase_add_test(net, test_connect_refused);
	tcase_add_test(net, test_retry_budget);
	tcase_add_test(net, test_retry_halted);
	tcase_add_test(net, test_retry_cancel_in_wait);
	suite_add_tcase(s, net);

	tcase_add_unchecked_fixture(http, server_start, server_stop);
	tcase_add_checked_fixture(http, setup, teardown);
	tcase_set_timeout(http, 60);
	tcase_add_test(http, test_http_promotion_cycle);
	tcase_add_test(http, test_http_wrong_key);
	tcase_add_test(http, test_http_wrong_key_bare_401);
	tcase_add_test(http, test_http_rejected_by_hook);
	tcase_add_test(http, test_http_no_offsite_redirect);
	tcase_add_test(http, test_http_retry_transient);
	tcase_add_test(http, test_http_permanent_not_retried);
	tcase_add_test(http, test_http_push_retry);
	suite_add_tcase(s, http);

	tcase_add_unchecked_fixture(https, tls_start, tls_stop);
	tcase_add_checked_fixture(https, setup, teardown);
	tcase_set_timeout(https, 60);
	tcase_add_test(https, test_https_fetch_push);
	tcase_add_test(https, test_https_trust_ca_file);
	suite_add_tcase(s, https);

	tcase_add_unchecked_fixture(fake, fc_start, fc_stop);
	tcase_add_checked_fixture(fake, setup, teardown);
	tcase_set_timeout(fake, 60);
	tcase_add_test(fake, test_fakecluster_promotion);
	suite_add_tcase(s, fake);
	return s;
}
