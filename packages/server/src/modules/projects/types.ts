/** The projects module's records: a project, its roles and visibilities, a team member (no behaviour). */

export const PROJECT_ROLES = ['stream:owner', 'stream:contributor', 'stream:reviewer'] as const
export type ProjectRole = (typeof PROJECT_ROLES)[number]
export const PROJECT_VISIBILITIES = ['public', 'private', 'unlisted'] as const
export type ProjectVisibility = (typeof PROJECT_VISIBILITIES)[number]

export interface Project {
  id: string
  name: string
  description: string | null
  visibility: ProjectVisibility
  createdAt: Date
  updatedAt: Date
}

/** What authorization needs to know about a project and a caller. */
export interface ProjectAccess {
  /** Null when the project does not exist. */
  project: { id: string; name: string; visibility: ProjectVisibility } | null
  /** The caller's role on the project; null for none (or no caller). */
  role: ProjectRole | null
}

export type ProjectWithRole = Project & { role: ProjectRole }

export interface TeamMember {
  userId: string
  role: ProjectRole
}

export function isProjectVisibility(value: string): value is ProjectVisibility {
  return (PROJECT_VISIBILITIES as readonly string[]).includes(value)
}

export function isProjectRole(value: string): value is ProjectRole {
  return (PROJECT_ROLES as readonly string[]).includes(value)
}
