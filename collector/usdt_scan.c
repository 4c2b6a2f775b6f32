// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "analyzer/array.h"
#include "collector/usdt_scan.h"

#define NT_STAPSDT 3

/* Counts loupe probes in one .note.stapsdt section's data. */
static int count_in_notes(Elf_Data *data, int elf_class)
{
	size_t addr_size = elf_class == ELFCLASS32 ? 4 : 8;
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nhdr;
	int count = 0;

	while ((off = gelf_getnote(data, off, &nhdr, &name_off, &desc_off)) > 0) {
		const char *name = (const char *)data->d_buf + name_off;
		const char *desc = (const char *)data->d_buf + desc_off;

		if (nhdr.n_type != NT_STAPSDT || nhdr.n_namesz != 8 ||
		    memcmp(name, "stapsdt", 8))
			continue;
		/* desc: pc, base, semaphore addresses, then provider\0name\0args\0 */
		if (nhdr.n_descsz <= 3 * addr_size)
			continue;
		if (strnlen(desc + 3 * addr_size, nhdr.n_descsz - 3 * addr_size) ==
			    sizeof(USDT_PROVIDER) - 1 &&
		    !strcmp(desc + 3 * addr_size, USDT_PROVIDER))
			count++;
	}
	return count;
}

int usdt_count_probes(const char *path)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	int fd, count = 0, err = 0;
	Elf *elf;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF ||
	    elf_getshdrstrndx(elf, &shstrndx)) {
		err = -ENOEXEC;
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		const char *name;
		Elf_Data *data;

		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE)
			continue;
		name = elf_strptr(elf, shstrndx, shdr.sh_name);
		if (!name || strcmp(name, ".note.stapsdt"))
			continue;
		data = elf_getdata(scn, NULL);
		if (data)
			count += count_in_notes(data, gelf_getclass(elf));
	}
cleanup:
	elf_end(elf);
	close(fd);
	return err ? err : count;
}

void usdt_objects_free(struct mapped_object *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i].path);
	free(v);
}

int usdt_mapped_objects(pid_t pid, struct mapped_object **out, size_t *n)
{
	struct mapped_object *v = NULL;
	size_t len = 0, cap = 0, i;
	char maps[64], *line = NULL;
	size_t line_cap = 0;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%d/maps", (int)pid);
	f = fopen(maps, "re");
	if (!f)
		return errno == ENOENT ? -ESRCH : -errno;
	while (getline(&line, &line_cap, f) > 0) {
		char perms[8], *path;
		struct stat st;
		int pos = 0;

		if (sscanf(line, "%*s %7s %*s %*s %*s %n", perms, &pos) < 1 ||
		    !pos || !strchr(perms, 'x'))
			continue;
		path = line + pos;
		path[strcspn(path, "\n")] = 0;
		if (path[0] != '/' || strstr(path, " (deleted)"))
			continue;
		if (stat(path, &st))
			continue;
		for (i = 0; i < len; i++)
			if (v[i].dev == st.st_dev && v[i].ino == st.st_ino)
				break;
		if (i < len)
			continue;
		if (array_grow((void **)&v, &cap, len + 1, sizeof(*v)))
			goto oom;
		v[len].path = strdup(path);
		if (!v[len].path)
			goto oom;
		v[len].dev = st.st_dev;
		v[len].ino = st.st_ino;
		len++;
	}
	free(line);
	fclose(f);
	*out = v;
	*n = len;
	return 0;
oom:
	free(line);
	fclose(f);
	usdt_objects_free(v, len);
	return -ENOMEM;
}
